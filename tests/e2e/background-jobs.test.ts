import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { startE2E, eventually, type E2EContext } from '../support/e2e.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { bookAndOpenCheckout, bookingRow, eventRow, ledgerFor } from '../support/booking-flow.js';
import { skipBackOff } from '../support/jobs.js';
import { runEntrypoint, type SpawnedProcess } from '../support/spawn.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { emailDeliveries } from '../../server/db/schema/index.js';
import { connectJobs } from '../../server/jobs/dispatcher.js';
import { webhookRetryJobId } from '../../server/jobs/queues.js';

/**
 * The background side against the real processes: the API, worker processes, a real SMTP server in this
 * process, and the Stripe emulator. One API and its workers serve every test here (each costs a process
 * start on a 2-core machine).
 */
let e: E2EContext;
let sink: SmtpSink;
let jobs: ReturnType<typeof connectJobs>;
let redisProxy: TcpProxy;
let firstWorker: SpawnedProcess;

beforeAll(async () => {
  sink = await startSmtpSink();
  // Short locks and send timeouts, so a killed worker's e-mail is taken over in seconds, not minutes.
  e = await startE2E({ env: { SMTP_URL: sink.url, MAIL_FROM: 'Flights <no-reply@flights.test>', JOB_LOCK_SECONDS: '2', SMTP_SEND_TIMEOUT_SECONDS: '3' } });
  // The first worker reaches Redis through a proxy the test can cut, as a Redis restart would.
  const redis = new URL(e.processEnv.REDIS_URL!);
  redisProxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
  firstWorker = await e.startWorker({ REDIS_URL: `redis://127.0.0.1:${redisProxy.port}` });
  // The queues as the processes see them, to skip a back-off.
  jobs = connectJobs(e.db, e.processEnv.REDIS_URL!, e.processEnv.REDIS_KEY_PREFIX!);
});
afterAll(async () => {
  await e?.db.execute(sql.raw('DROP TRIGGER IF EXISTS trg_e2e_jobs_refuse_ledger')).catch(() => undefined);
  await jobs?.close();
  await e?.close();
  await redisProxy?.close();
  await sink?.close();
});

const confirmationsOf = (bookingId: number) => sink.received.filter((m) => m.parsed.messageId === `<booking-${bookingId}-confirmation@flights.test>`);

async function payAndDeliver(opts: { passengers?: number } = {}) {
  const flow = await bookAndOpenCheckout(e, { seats: 20, passengers: opts.passengers ?? 2 });
  for (const r of await e.fakeStripe.deliverAll(e.fakeStripe.completeSession(flow.sessionId))) expect(r.status).toBe(200);
  return flow;
}

describe('the background side, end to end', () => {
  it('a Redis restart under the running worker costs a reconnect, not the process', async () => {
    const before = redisProxy.accepted();
    redisProxy.cut();
    await new Promise((r) => setTimeout(r, 1500)); // Redis stays away for a moment
    redisProxy.restore();
    await eventually(async () => redisProxy.accepted() > before, 30_000);
    // Still the only worker, still running: it takes the next job.
    const { booking } = await payAndDeliver({ passengers: 1 });
    await eventually(async () => (confirmationsOf(booking.id).length ? true : null), 60_000);
    expect(firstWorker.child.exitCode).toBeNull();
    expect(firstWorker.logs.filter((l) => l.level === 60 || /uncaught|unhandled/.test(String(l.msg)))).toEqual([]);
  });

  it('pay, then exactly one e-mail arrives at the SMTP server, in English and Arabic; a redelivery storm sends no second', async () => {
    const { booking, user, sessionId } = await payAndDeliver();
    const [mail] = await eventually(async () => (confirmationsOf(booking.id).length ? confirmationsOf(booking.id) : null), 30_000);
    expect(mail!.envelopeTo).toEqual([user.email]);
    const text = mail!.parsed.text!;
    expect(text).toContain(`Booking reference: ${booking.id}`);
    expect(text).toContain('Total paid: SAR 900.00');
    expect(text).toContain(`المبلغ المدفوع: ${new Intl.NumberFormat('ar-SA', { style: 'currency', currency: 'SAR' }).format(900)}`);
    expect(mail!.parsed.html).toContain('<div lang="ar" dir="rtl"');

    const again = e.fakeStripe.events.filter((x) => JSON.stringify(x.data.object).includes(sessionId));
    await Promise.all([...again, ...again].map((x) => e.fakeStripe.deliver(x)));
    const [delivery] = await e.db.select().from(emailDeliveries).where(eq(emailDeliveries.bookingId, booking.id));
    expect(delivery).toMatchObject({ status: 'sent', attempts: 1 });
    expect(confirmationsOf(booking.id)).toHaveLength(1);
  });

  it('an event stored unprocessed by a fault is processed by the worker alone, with no redelivery', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(e, { seats: 20, passengers: 1 });
    const completed = e.fakeStripe.completeSession(sessionId).find((x) => x.type === 'checkout.session.completed')!;
    await e.db.execute(sql.raw(`CREATE TRIGGER trg_e2e_jobs_refuse_ledger BEFORE INSERT ON financial_ledger FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger offline'`));
    expect((await e.fakeStripe.deliver(completed)).status).toBe(500);
    expect(await eventRow(e, completed.id)).toMatchObject({ processed: false, retryCount: 1 });
    await e.db.execute(sql.raw('DROP TRIGGER trg_e2e_jobs_refuse_ledger'));

    // Its first retry is 20 s away: skip the wait, not the worker.
    await skipBackOff(jobs.queues.webhookRetry, webhookRetryJobId(completed.id));
    await eventually(async () => (await eventRow(e, completed.id))?.processed, 30_000);
    expect((await bookingRow(e, booking.id)).status).toBe('confirmed');
    expect((await ledgerFor(e, booking.id)).map((x) => x.entryType)).toEqual(['charge']);
    expect(e.fakeStripe.deliveries.filter((d) => d.eventId === completed.id)).toHaveLength(1);
    await eventually(async () => (confirmationsOf(booking.id).length ? true : null), 30_000);
  });

  it('the worker killed mid-send and restarted still sends one e-mail, with the same Message-ID', async () => {
    const held = sink.holdNext();
    const { booking } = await payAndDeliver({ passengers: 1 });
    await held; // the only worker is inside the SMTP DATA of this booking's confirmation
    expect(await firstWorker.stop('SIGKILL')).toBeNull();
    expect(confirmationsOf(booking.id)).toHaveLength(0);
    await e.startWorker();
    await eventually(async () => (confirmationsOf(booking.id).length ? true : null), 60_000);
    const [delivery] = await e.db.select().from(emailDeliveries).where(eq(emailDeliveries.bookingId, booking.id));
    expect(delivery).toMatchObject({ status: 'sent', attempts: 2, messageId: `<booking-${booking.id}-confirmation@flights.test>` });
    expect(confirmationsOf(booking.id)).toHaveLength(1);
  });

  it('a payment whose webhooks were never delivered is confirmed by npm run jobs:reconcile, with one charge entry', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(e, { seats: 20, passengers: 1 });
    e.fakeStripe.completeSession(sessionId); // Stripe has the money; nothing reaches the API
    const run = await runEntrypoint('server/scripts/reconcile.ts', e.processEnv, { timeoutMs: 60_000 });
    expect(run.stdout).toMatch(/events repaired\s+[1-9]/);
    expect(run.stdout).toMatch(/mismatches\s+0/);
    expect(run.code).toBe(0);
    expect(await bookingRow(e, booking.id)).toMatchObject({ status: 'confirmed', paymentStatus: 'paid' });
    expect((await ledgerFor(e, booking.id)).map((x) => [x.entryType, x.amountMinor])).toEqual([['charge', booking.totalMinor]]);
    // Its confirmation, handed over by the script, is sent by the worker.
    await eventually(async () => (confirmationsOf(booking.id).length ? true : null), 30_000);
  });

  it('two worker processes run every job once: one e-mail per booking', async () => {
    await e.startWorker();
    const flows = [];
    for (let i = 0; i < 4; i++) flows.push(await payAndDeliver({ passengers: 1 }));
    for (const f of flows) await eventually(async () => (confirmationsOf(f.booking.id).length ? true : null), 30_000);
    const deliveries = await Promise.all(flows.map(async (f) => (await e.db.select().from(emailDeliveries).where(eq(emailDeliveries.bookingId, f.booking.id)))[0]));
    expect(deliveries.map((d) => [d?.status, d?.attempts])).toEqual(flows.map(() => ['sent', 1]));
    for (const f of flows) expect(confirmationsOf(f.booking.id)).toHaveLength(1);
  });
});
