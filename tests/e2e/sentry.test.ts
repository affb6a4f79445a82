import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { startE2E, type E2EContext } from '../support/e2e.js';
import { trpcClient } from '../support/harness.js';
import { startSentrySink, type SentrySink } from '../support/sentry-sink.js';
import { createUser, uniqueEmail } from '../support/users.js';
import { bookAndOpenCheckout, bookingRow, eventRow } from '../support/booking-flow.js';
import { runEntrypoint } from '../support/spawn.js';
import { payments } from '../../server/db/schema/index.js';
import { createQueueRedis } from '../../server/lib/redis.js';
import { bullPrefix, createQueues } from '../../server/jobs/queues.js';
import { REDIS_URL } from '../support/test-env.js';

/**
 * Sentry, proven: the real API process with SENTRY_DSN pointing at a loopback server that plays
 * Sentry's ingest endpoint. We read the envelopes the real SDK sent.
 */
let sink: SentrySink;
let e: E2EContext;
const RELEASE = 'flight-booking-backend@e2e-sentry';
const PASSWORD = 'a password nobody may log 7';

beforeAll(async () => {
  sink = await startSentrySink();
  e = await startE2E({ env: { SENTRY_DSN: sink.dsn, SENTRY_RELEASE: RELEASE } });
});
afterAll(async () => {
  await e?.close();
  await sink?.close();
});

const stringified = () => JSON.stringify(e.api.logs);

describe('error reports and logs of the API process', () => {
  it('reports an unknown error in a tRPC procedure with the request id, the user id, the procedure and the release', async () => {
    const user = await createUser(e.db);
    await e.db.execute(sql`RENAME TABLE bookings TO bookings_moved_away`);
    try {
      const client = trpcClient(e.api.baseUrl, user.accessToken, { 'x-request-id': 'sentry-e2e-procedure-0001' });
      await expect(client.bookings.list.query({})).rejects.toMatchObject({ data: { appCode: 'INTERNAL', requestId: 'sentry-e2e-procedure-0001' } });
    } finally {
      await e.db.execute(sql`RENAME TABLE bookings_moved_away TO bookings`);
    }
    const event = await sink.waitForEvent((ev) => ev.tags?.request_id === 'sentry-e2e-procedure-0001');
    expect(event.tags).toMatchObject({ request_id: 'sentry-e2e-procedure-0001', user_id: String(user.id), trpc_path: 'bookings.list', component: 'api' });
    expect(event.release).toBe(RELEASE);
    expect(event.user).toEqual({ id: String(user.id) });
    expect(event.exception.values.map((v: { value: string }) => v.value).join('\n')).toMatch(/bookings/);
    const raw = sink.envelopes.map((env) => env.raw).join('\n');
    expect(raw).not.toContain(user.email);
    expect(raw).not.toContain(user.accessToken);
  });

  it('a database error during register logs and reports the failure without the e-mail, the password or its hash', async () => {
    await e.db.execute(sql.raw(`CREATE TRIGGER e2e_fail_register BEFORE INSERT ON users FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'forced failure for the e2e'`));
    const email = uniqueEmail('leak-check');
    try {
      const res = await fetch(`${e.api.baseUrl}/api/mobile/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'sentry-e2e-register-0001' },
        body: JSON.stringify({ email, password: PASSWORD, name: 'Noura Leakcheck' }),
      });
      expect(res.status).toBe(500);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INTERNAL');
    } finally {
      await e.db.execute(sql`DROP TRIGGER IF EXISTS e2e_fail_register`);
    }

    // The log line is there, with the query and its error, and the bound parameters are not.
    const line = await e.api.waitForLog((l) => l.requestId === 'sentry-e2e-register-0001' && l.level === 50);
    const err = line.err as { message: string; stack: string; cause?: { message: string } };
    expect(err.message).toContain('Failed query: insert into `users`');
    expect(err.message).toContain('params: [redacted]');
    expect(JSON.stringify(err)).toContain('forced failure for the e2e');
    // And the event Sentry received.
    const event = await sink.waitForEvent((ev) => ev.tags?.request_id === 'sentry-e2e-register-0001');
    expect(JSON.stringify(event.exception)).toContain('params: [redacted]');

    const [local, domain] = email.split('@') as [string, string];
    for (const text of [stringified(), ...sink.envelopes.map((env) => env.raw)]) {
      expect(text).not.toContain(email);
      expect(text).not.toContain(`${local}@`);
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain('$argon2');
      expect(text).not.toMatch(new RegExp(`@${domain.replace('.', '\\.')}`));
    }
  });

  it('sends no token, password, hash, secret or e-mail in any envelope', async () => {
    expect(sink.envelopes.length).toBeGreaterThanOrEqual(2);
    const raw = sink.envelopes.map((env) => env.raw).join('\n');
    for (const secret of [process.env.JWT_SECRET!, process.env.REFRESH_TOKEN_PEPPER!, process.env.STRIPE_SECRET_KEY!, process.env.STRIPE_WEBHOOK_SECRET!, PASSWORD]) {
      expect(raw).not.toContain(secret);
    }
    expect(raw).not.toMatch(/\$argon2/);
    expect(raw).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\./); // a JWT
    expect(raw).not.toMatch(/[A-Za-z0-9._%+-]+@(example\.com|example\.test)/);
  });
});

describe('reconciliation findings reach Sentry (npm run jobs:reconcile, and the worker\'s daily job)', () => {
  it('a refund made only at Stripe and a delayed payment stuck in processing each arrive as an event tagged with booking, payment intent and kind, and nothing personal', async () => {
    // 1. Paid by card, then refunded in the Dashboard; both refund events fail here until flagged for
    //    a human (the ledger refused them), so the reconciliation leaves them alone: Stripe has given
    //    the money back, our ledger still holds it.
    const refunded = await bookAndOpenCheckout(e, { seats: 10, passengers: 1, priceMinor: 50_000 });
    for (const r of await e.fakeStripe.deliverAll(e.fakeStripe.completeSession(refunded.sessionId))) expect(r.status).toBe(200);
    const refundedPi = (await bookingRow(e, refunded.booking.id)).stripePaymentIntentId!;
    const refundEvents = e.fakeStripe.refundFromDashboard(refundedPi);
    await e.db.execute(sql.raw(`CREATE TRIGGER e2e_refuse_ledger BEFORE INSERT ON financial_ledger FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger refused for the e2e'`));
    try {
      for (let i = 0; i < 3; i++) for (const r of await e.fakeStripe.deliverAll(refundEvents)) expect(r.status).toBe(500);
    } finally {
      await e.db.execute(sql`DROP TRIGGER IF EXISTS e2e_refuse_ledger`);
    }
    for (const ev of refundEvents) expect(await eventRow(e, ev.id)).toMatchObject({ processed: false, needsAttention: true });

    // 2. A bank debit that has been processing for longer than PAYMENT_PROCESSING_ALERT_DAYS.
    const stuck = await bookAndOpenCheckout(e, { seats: 10, passengers: 1 });
    for (const r of await e.fakeStripe.deliverAll(e.fakeStripe.completeSession(stuck.sessionId, { async: true }))) expect(r.status).toBe(200);
    await e.db.update(payments).set({ updatedAt: new Date(Date.now() - 40 * 86_400_000) }).where(eq(payments.stripeCheckoutSessionId, stuck.sessionId));
    const stuckPi = (await bookingRow(e, stuck.booking.id)).stripePaymentIntentId!;

    const run = await runEntrypoint('server/scripts/reconcile.ts', e.processEnv, { timeoutMs: 60_000 });
    expect(run.stdout).toContain(`MISMATCH booking ${refunded.booking.id} ${refundedPi}: ledger 50000 SAR, Stripe 0 SAR (ledger_above_stripe`);
    expect(run.stdout).toContain(`STUCK booking ${stuck.booking.id} ${stuckPi}`);
    expect(run.code).toBe(1);
    expect(await bookingRow(e, stuck.booking.id)).toMatchObject({ status: 'pending_payment', seatsHeld: 1, needsAttention: true });

    const mismatch = await sink.waitForEvent((ev) => ev.tags?.booking_id === String(refunded.booking.id) && ev.tags?.mismatch_kind !== undefined);
    expect(mismatch).toMatchObject({
      level: 'error',
      release: RELEASE,
      fingerprint: ['reconciliation', 'ledger_above_stripe'],
      tags: { mismatch_kind: 'ledger_above_stripe', payment_intent: refundedPi, currency: 'SAR', job_name: 'reconcile', component: 'script', request_id: expect.stringMatching(/^reconcile:manual:/) },
      extra: { ledgerNetMinor: 50_000, stripeNetMinor: 0 },
    });
    expect(JSON.stringify(mismatch.message)).toContain(`Reconciliation: ledger_above_stripe, booking ${refunded.booking.id} (run ${mismatch.tags.reconciliation_run})`);
    const stuckEvent = await sink.waitForEvent((ev) => ev.tags?.booking_id === String(stuck.booking.id));
    expect(stuckEvent).toMatchObject({
      fingerprint: ['reconciliation', 'payment_stuck_processing'],
      tags: { mismatch_kind: 'payment_stuck_processing', payment_intent: stuckPi, stripe_status: 'processing', reconciliation_run: mismatch.tags.reconciliation_run },
    });

    const raw = sink.envelopes.map((env) => env.raw).join('\n');
    for (const secret of [refunded.user.email, stuck.user.email, refunded.user.accessToken, stuck.user.accessToken, process.env.STRIPE_SECRET_KEY!, process.env.STRIPE_WEBHOOK_SECRET!, process.env.JWT_SECRET!]) {
      expect(raw).not.toContain(secret);
    }
    expect(raw).not.toContain('customer@example.com'); // the payer's e-mail at Stripe
    expect(raw).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\./);

    // 3. The daily run is the worker's scheduled job, not the script: the worker process reports the
    //    same finding, from its own run, tagged as a worker's job.
    const worker = await e.startWorker();
    const connection = createQueueRedis(REDIS_URL);
    const queues = createQueues(connection, bullPrefix(e.processEnv.REDIS_KEY_PREFIX!));
    try {
      // What the job scheduler adds at 02:00 in Riyadh (RECONCILIATION_SCHEDULE), added now.
      await queues.reconciliation.add('reconcile', {});
      const fromWorker = await sink.waitForEvent((ev) => ev.tags?.booking_id === String(refunded.booking.id) && ev.tags?.component === 'worker', 30_000);
      expect(fromWorker).toMatchObject({
        level: 'error',
        release: RELEASE,
        fingerprint: ['reconciliation', 'ledger_above_stripe'],
        tags: { mismatch_kind: 'ledger_above_stripe', payment_intent: refundedPi, job_name: 'reconcile', request_id: expect.stringMatching(/^job:reconcile:/) },
      });
      expect(fromWorker.tags.reconciliation_run).not.toBe(mismatch.tags.reconciliation_run);
      const all = sink.envelopes.map((env) => env.raw).join('\n');
      for (const secret of [refunded.user.email, stuck.user.email, process.env.STRIPE_SECRET_KEY!, process.env.JWT_SECRET!]) expect(all).not.toContain(secret);
    } finally {
      await queues.close();
      connection.disconnect();
      await worker.stop();
    }
  });
});
