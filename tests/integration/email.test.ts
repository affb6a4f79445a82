import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import pino from 'pino';
import { simpleParser } from 'mailparser';
import { env, type Env } from '../../server/env.js';
import type { Db } from '../../server/db/types.js';
import { airports, bookingPassengers, bookings, emailDeliveries, flights, users, type BookingStatus } from '../../server/db/schema/index.js';
import { AIRPORTS } from '../../server/db/seed-data.js';
import { createMailer } from '../../server/services/email/transport.js';
import { claimDelivery } from '../../server/services/email/deliveries.js';
import { CONFIRMATION_LEASE_MS, sendBookingConfirmation, type EmailDeps } from '../../server/services/email/send-booking-confirmation.js';
import { createTestDatabase } from '../support/harness.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
let db: Db;
let sink: SmtpSink;
let deps: EmailDeps;
/** Moves the use case's clock, never the machine's: leases are read from deps.clock. */
let clockOffsetMs = 0;
const config: Env = { ...env, MAIL_FROM: 'Flights <no-reply@flights.test>' };
const silent = pino({ level: 'silent' });

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = testDb.database.db;
  sink = await startSmtpSink();
  const smtpConfig = { ...config, SMTP_URL: sink.url };
  deps = { db, config: smtpConfig, clock: { now: () => new Date(Date.now() + clockOffsetMs) }, logger: silent, mailer: createMailer(smtpConfig, silent) };
});
afterAll(async () => {
  deps?.mailer.close();
  await sink?.close();
  await testDb?.drop();
});

// 2030-01-15 06:30 UTC is 09:30 in Riyadh and lands at 09:40 UTC = 13:40 in Dubai.
const DEPARTURE = new Date('2030-01-15T06:30:00Z');
const PASSENGERS = [
  { firstName: 'Layla', lastName: 'Hassan' },
  { firstName: 'Sean', lastName: "O'Neil" },
];

let flightCounter = 0;

/** A booking in `status`, owned by a fresh user, on a fresh RUH -> DXB flight; rows inserted as the services would leave them. */
async function bookingIn(status: BookingStatus = 'confirmed') {
  await db.insert(airports).ignore().values([...AIRPORTS]);
  const email = `traveller-${randomBytes(5).toString('hex')}@example.test`;
  const [user] = await db.insert(users).values({ email, name: 'Layla Hassan', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$unusable$unusable' });
  const flightNumber = `SV${1000 + flightCounter++}`;
  const [flight] = await db.insert(flights).values({
    flightNumber,
    origin: 'RUH',
    destination: 'DXB',
    departureAt: DEPARTURE,
    arrivalAt: new Date(DEPARTURE.getTime() + 190 * 60_000),
    priceMinor: 20_300,
    currency: 'SAR',
    seatsTotal: 100,
    seatsAvailable: status === 'confirmed' ? 98 : 100,
  });
  const [booking] = await db.insert(bookings).values({
    userId: user.insertId,
    flightId: flight.insertId,
    passengerCount: 2,
    totalMinor: 40_600,
    currency: 'SAR',
    status,
    paymentStatus: status === 'refunded' ? 'refunded' : 'paid',
    seatsHeld: status === 'confirmed' ? 2 : 0,
  });
  await db.insert(bookingPassengers).values(PASSENGERS.map((p, position) => ({ bookingId: booking.insertId, position, ...p })));
  return { id: booking.insertId, email, flightNumber };
}

const mailsTo = (email: string) => sink.received.filter((m) => m.envelopeTo.includes(email));
async function deliveryOf(bookingId: number) {
  const [row] = await db.select().from(emailDeliveries).where(eq(emailDeliveries.bookingId, bookingId));
  return row;
}

describe('booking confirmation e-mail over a real SMTP server', () => {
  it("goes to the booking's user, with an English and an Arabic part, the reference, flight, local departure, passengers and total", async () => {
    const b = await bookingIn();
    const result = await sendBookingConfirmation(deps, { bookingId: b.id });
    expect(result).toEqual({ outcome: 'sent', messageId: `<booking-${b.id}-confirmation@flights.test>`, attempt: 1 });

    const [mail] = mailsTo(b.email);
    expect(mailsTo(b.email)).toHaveLength(1);
    expect(mail!.envelopeTo).toEqual([b.email]);
    expect(mail!.envelopeFrom).toBe('no-reply@flights.test');
    const m = mail!.parsed;
    expect(m.messageId).toBe(`<booking-${b.id}-confirmation@flights.test>`);
    expect(m.headers.get('auto-submitted')).toBe('auto-generated');
    expect(m.subject).toContain(b.flightNumber);
    expect(m.subject).toContain('تم تأكيد حجزك');

    const arabicAmount = new Intl.NumberFormat('ar-SA', { style: 'currency', currency: 'SAR' }).format(406);
    // The text alternative: English, then Arabic.
    expect(m.text).toContain(`Booking reference: ${b.id}`);
    expect(m.text).toContain(`Flight: ${b.flightNumber}`);
    expect(m.text).toContain('Riyadh (RUH) → Dubai (DXB)');
    expect(m.text).toContain('Departure: Tue, 15 Jan 2030, 09:30 (Asia/Riyadh, GMT+3)');
    expect(m.text).toContain('Arrival: Tue, 15 Jan 2030, 13:40 (Asia/Dubai, GMT+4)');
    expect(m.text).toContain('1. Layla Hassan');
    expect(m.text).toContain("2. Sean O'Neil");
    expect(m.text).toContain('Total paid: SAR 406.00');
    expect(m.text).toContain('تم تأكيد حجزك');
    expect(m.text).toContain(`المبلغ المدفوع: ${arabicAmount}`);
    expect(m.text!.indexOf('Booking reference')).toBeLessThan(m.text!.indexOf('رقم الحجز'));
    // The HTML alternative: both parts, the Arabic one right to left, every value escaped.
    const html = m.html as string;
    expect(html).toContain('<div lang="en" dir="ltr"');
    expect(html).toContain('<div lang="ar" dir="rtl"');
    const arabic = html.slice(html.indexOf('<div lang="ar" dir="rtl"'));
    expect(arabic).toContain(arabicAmount);
    expect(arabic).toContain('Asia/Riyadh');
    expect(html).toContain('SAR 406.00');
    expect(html).toContain('O&#39;Neil');
    expect(html).not.toContain("O'Neil");

    expect(await deliveryOf(b.id)).toMatchObject({ status: 'sent', attempts: 1, recipient: b.email, leaseExpiresAt: null, lastError: null });
    expect((await deliveryOf(b.id))!.smtpResponse).toMatch(/^250 /);
  });

  it('running the job again sends nothing more', async () => {
    const b = await bookingIn();
    expect((await sendBookingConfirmation(deps, { bookingId: b.id })).outcome).toBe('sent');
    expect(await sendBookingConfirmation(deps, { bookingId: b.id })).toEqual({ outcome: 'already_sent', messageId: `<booking-${b.id}-confirmation@flights.test>` });
    expect(mailsTo(b.email)).toHaveLength(1);
  });

  it('five workers racing for one booking deliver one message', async () => {
    const b = await bookingIn();
    const results = await Promise.all(Array.from({ length: 5 }, () => sendBookingConfirmation(deps, { bookingId: b.id })));
    expect(results.filter((r) => r.outcome === 'sent')).toHaveLength(1);
    expect(results.every((r) => ['sent', 'in_progress', 'already_sent'].includes(r.outcome))).toBe(true);
    expect(mailsTo(b.email)).toHaveLength(1);
    expect(await deliveryOf(b.id)).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it.each(['refund_pending', 'refunded'] as const)('a booking already %s gets no confirmation, now or later', async (status) => {
    const b = await bookingIn(status);
    expect(await sendBookingConfirmation(deps, { bookingId: b.id })).toEqual({ outcome: 'skipped', reason: `booking is ${status}` });
    expect(await sendBookingConfirmation(deps, { bookingId: b.id })).toEqual({ outcome: 'skipped', reason: `booking is ${status}` });
    expect(mailsTo(b.email)).toHaveLength(0);
    expect(await deliveryOf(b.id)).toMatchObject({ status: 'skipped', attempts: 0 });
  });

  it("a dead sender's claim is taken over once its lease runs out, with the same Message-ID", async () => {
    const b = await bookingIn();
    const messageId = `<booking-${b.id}-confirmation@flights.test>`;
    // A sender claims the delivery and dies before sending (the claim is the real one the use case makes).
    const dead = await claimDelivery(db, {
      bookingId: b.id,
      kind: 'booking_confirmation',
      messageId,
      recipient: b.email,
      now: deps.clock.now(),
      leaseMs: CONFIRMATION_LEASE_MS,
      reasonToSkip: async () => null,
    });
    expect(dead.kind).toBe('claimed');

    const early = await sendBookingConfirmation(deps, { bookingId: b.id });
    expect(early.outcome).toBe('in_progress');
    expect(mailsTo(b.email)).toHaveLength(0);

    clockOffsetMs = CONFIRMATION_LEASE_MS + 1000;
    try {
      expect(await sendBookingConfirmation(deps, { bookingId: b.id })).toEqual({ outcome: 'sent', messageId, attempt: 2 });
    } finally {
      clockOffsetMs = 0;
    }
    expect(mailsTo(b.email).map((m) => m.parsed.messageId)).toEqual([messageId]);
  });

  it('a crash between the SMTP 250 and the record resends once, with the same Message-ID', async () => {
    const b = await bookingIn();
    // The database refuses to record the send: the fault lives in the database, not in a flag.
    await db.execute(sql.raw(`CREATE TRIGGER trg_test_refuse_sent BEFORE UPDATE ON email_deliveries FOR EACH ROW
      BEGIN IF NEW.status = 'sent' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'record offline'; END IF; END`));
    try {
      await expect(sendBookingConfirmation(deps, { bookingId: b.id })).rejects.toThrow();
    } finally {
      await db.execute(sql.raw('DROP TRIGGER IF EXISTS trg_test_refuse_sent'));
    }
    expect(mailsTo(b.email)).toHaveLength(1);
    expect(await deliveryOf(b.id)).toMatchObject({ status: 'sending', attempts: 1 });

    // While the lease holds, nobody resends; after it, one resend with the same Message-ID.
    expect((await sendBookingConfirmation(deps, { bookingId: b.id })).outcome).toBe('in_progress');
    clockOffsetMs = CONFIRMATION_LEASE_MS + 1000;
    try {
      expect((await sendBookingConfirmation(deps, { bookingId: b.id })).outcome).toBe('sent');
      expect((await sendBookingConfirmation(deps, { bookingId: b.id })).outcome).toBe('already_sent');
    } finally {
      clockOffsetMs = 0;
    }
    const ids = mailsTo(b.email).map((m) => m.parsed.messageId);
    expect(ids).toEqual([`<booking-${b.id}-confirmation@flights.test>`, `<booking-${b.id}-confirmation@flights.test>`]);
  });

  it('a temporary SMTP refusal (451) throws for the job queue to retry, and the retry sends it', async () => {
    const b = await bookingIn();
    sink.refuseNext(1, 451);
    await expect(sendBookingConfirmation(deps, { bookingId: b.id })).rejects.toThrow(/451/);
    expect(await deliveryOf(b.id)).toMatchObject({ status: 'pending', attempts: 1, leaseExpiresAt: null });
    expect((await deliveryOf(b.id))!.lastError).toMatch(/451/);
    expect(mailsTo(b.email)).toHaveLength(0);

    expect(await sendBookingConfirmation(deps, { bookingId: b.id })).toMatchObject({ outcome: 'sent', attempt: 2 });
    expect(mailsTo(b.email)).toHaveLength(1);
    expect(await deliveryOf(b.id)).toMatchObject({ status: 'sent', lastError: null });
  });

  it('a recipient the server refuses for good (550) is recorded as failed and not tried again', async () => {
    const b = await bookingIn();
    sink.rejectRecipient(b.email);
    const first = await sendBookingConfirmation(deps, { bookingId: b.id });
    expect(first.outcome).toBe('failed');
    expect(await sendBookingConfirmation(deps, { bookingId: b.id })).toEqual(first);
    expect(await deliveryOf(b.id)).toMatchObject({ status: 'failed', attempts: 1 });
    expect(mailsTo(b.email)).toHaveLength(0);
  });

  it('a booking that does not exist is NOT_FOUND and leaves no record', async () => {
    await expect(sendBookingConfirmation(deps, { bookingId: 987_654_321 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await deliveryOf(987_654_321)).toBeUndefined();
  });
});

describe('without SMTP_URL outside production', () => {
  it('writes a real RFC 5322 .eml file into MAIL_DIR that parses, and logs its path', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fbt-mail-'));
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
    const devConfig: Env = { ...config, NODE_ENV: 'development', SMTP_URL: undefined, MAIL_DIR: dir };
    const mailer = createMailer(devConfig, logger);
    try {
      expect(mailer.kind).toBe('file');
      const b = await bookingIn();
      const result = await sendBookingConfirmation({ ...deps, config: devConfig, logger, mailer }, { bookingId: b.id });
      expect(result.outcome).toBe('sent');

      const files = await readdir(dir);
      expect(files).toHaveLength(1);
      const file = path.join(dir, files[0]!);
      expect(lines.find((l) => l.file === file)).toBeDefined();
      const raw = await readFile(file);
      expect(raw.toString('latin1')).toMatch(/\r\nMIME-Version: 1\.0\r\n/);
      const parsed = await simpleParser(raw);
      expect(parsed.messageId).toBe(`<booking-${b.id}-confirmation@flights.test>`);
      expect(parsed.headers.get('to')).toMatchObject({ value: [{ address: b.email, name: 'Layla Hassan' }] });
      expect(parsed.text).toContain('Total paid: SAR 406.00');
      expect(parsed.html).toContain('<div lang="ar" dir="rtl"');
      expect(await deliveryOf(b.id)).toMatchObject({ status: 'sent', smtpResponse: `written to ${file}` });
    } finally {
      mailer.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to build a mailer in production without SMTP_URL', () => {
    expect(() => createMailer({ ...config, NODE_ENV: 'production', SMTP_URL: undefined }, silent)).toThrow(/SMTP_URL is required in production/);
  });
});
