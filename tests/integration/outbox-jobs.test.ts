import { describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { bookings, outbox, stripeEvents } from '../../server/db/schema/index.js';
import { connectJobs } from '../../server/jobs/dispatcher.js';
import { relayOutbox } from '../../server/jobs/outbox-relay.js';
import { OUTBOX_JOBS, outboxJobId, WEBHOOK_RETRY, webhookRetryJobId, type OutboxJobData, type WebhookRetryJobData } from '../../server/jobs/queues.js';
import { cancelBooking } from '../../server/services/bookings.js';
import { enqueueOutbox, markOutboxEnqueued, outboxCounts } from '../../server/services/outbox.js';
import { bookAndOpenCheckout, bookingRow, eventRow, newKey } from '../support/booking-flow.js';
import { eventually } from '../support/e2e.js';
import { outboxRowWhen, skipBackOff } from '../support/jobs.js';
import { runEntrypoint, sharedProcessEnv } from '../support/spawn.js';
import { useTestApp } from '../support/lifecycle.js';

// The worker's queues run in-process (e-mail, Stripe calls, webhook retries), without the schedules.
const t = useTestApp({ workers: true });

async function confirmedBooking() {
  const flow = await bookAndOpenCheckout(t, { seats: 10, passengers: 1 });
  await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(flow.sessionId));
  return { ...flow, paymentIntentId: (await bookingRow(t, flow.booking.id)).stripePaymentIntentId! };
}

describe('the outbox hands its rows to BullMQ', () => {
  it('a row committed while Redis is unreachable is answered normally, left unenqueued, and the relay hands it over', async () => {
    const flow = await bookAndOpenCheckout(t, { seats: 10, passengers: 1 });
    const deadRedis = connectJobs(t.db, 'redis://127.0.0.1:1', t.redisPrefix);
    try {
      const cancelled = await cancelBooking({ ...t.deps, jobs: deadRedis.dispatcher }, { userId: flow.user.id, role: 'traveller' }, { id: flow.booking.id, idempotencyKey: newKey() });
      expect(cancelled.status).toBe('cancelled');
    } finally {
      await deadRedis.close();
    }
    const [row] = await t.db.select().from(outbox).where(eq(outbox.dedupeKey, `stripe_expire_session:${flow.sessionId}`));
    expect(row).toMatchObject({ status: 'pending', enqueuedAt: null, attempts: 0 });
    expect(await t.queues.stripe.getJob(outboxJobId(row!.id))).toBeUndefined();

    // Within its grace period the relay leaves it to the hand-off; after it, the relay enqueues it.
    expect((await relayOutbox(t.deps, t.queues)).enqueued).toBe(0);
    const later = { ...t.deps, clock: { now: () => new Date(Date.now() + 60_000) } };
    expect((await relayOutbox(later, t.queues)).enqueued).toBe(1);
    await outboxRowWhen(t.db, row!.dedupeKey, (r) => r.status === 'dispatched');
    expect(t.fakeStripe.sessions.get(flow.sessionId)?.status).toBe('expired');
    expect((await relayOutbox(later, t.queues)).enqueued).toBe(0);
  });

  it('a Stripe call refused for good fails the row at once, flags the booking and is counted; outbox:retry requeues it', async () => {
    const { booking, paymentIntentId } = await confirmedBooking();
    // A refund of a payment intent Stripe does not know: a 4xx no retry cures.
    const id = (await enqueueOutbox(t.db, 'stripe_refund', `test:${booking.id}`, { bookingId: booking.id, paymentIntentId: 'pi_unknown_to_stripe', idempotencySuffix: 'typo' }, new Date()))!;
    const countsBefore = await outboxCounts(t.db);
    await t.deps.jobs.outboxCommitted([id]);
    const failed = await outboxRowWhen(t.db, `stripe_refund:test:${booking.id}`, (r) => r.status === 'failed');
    expect(failed).toMatchObject({ attempts: 1, lastError: expect.stringMatching(/pi_unknown_to_stripe/) });
    expect(await bookingRow(t, booking.id)).toMatchObject({ needsAttention: true, attentionReason: expect.stringMatching(/^stripe_refund failed/) });
    expect((await outboxCounts(t.db)).failed).toBe(countsBefore.failed + 1);
    const job = (await t.queues.stripe.getJob(outboxJobId(id)))!;
    expect(await job.isFailed()).toBe(true);
    expect(job.attemptsMade).toBe(1); // not retried: BullMQ was told it is unrecoverable

    // The operator fixes the cause, then requeues the row with the script.
    await t.db.update(outbox).set({ payload: { bookingId: booking.id, paymentIntentId, idempotencySuffix: 'fixed' } }).where(eq(outbox.id, id));
    const env = sharedProcessEnv({ databaseUrl: t.databaseUrl, redisKeyPrefix: t.redisPrefix, stripeApiBase: t.fakeStripe.url });
    const run = await runEntrypoint('server/scripts/outbox-retry.ts', env, { args: [String(id)] });
    expect(run.code).toBe(0);
    const done = await outboxRowWhen(t.db, `stripe_refund:test:${booking.id}`, (r) => r.status === 'dispatched');
    expect(done.attempts).toBe(2);
    expect([...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === paymentIntentId)).toHaveLength(1);
    // Not failed any more: requeueing it again is refused.
    expect((await runEntrypoint('server/scripts/outbox-retry.ts', env, { args: [String(id)] })).code).toBe(1);
  });

  it('a row whose last attempt fails with a retryable error becomes failed and flags its booking', async () => {
    const { booking, paymentIntentId } = await confirmedBooking();
    await t.db.update(bookings).set({ needsAttention: false }).where(eq(bookings.id, booking.id));
    const id = (await enqueueOutbox(t.db, 'stripe_refund', `last:${booking.id}`, { bookingId: booking.id, paymentIntentId }, new Date()))!;
    t.fakeStripe.setFault({ mode: 'error', pathPrefix: '/v1/refunds' });
    try {
      // The same job as the hand-off makes, with one attempt left.
      const data: OutboxJobData = { outboxId: id, topic: 'stripe_refund', requestId: 'req-last-attempt' };
      await t.queues.stripe.add('stripe_refund', data, { ...OUTBOX_JOBS.stripe_refund.opts, attempts: 1, jobId: outboxJobId(id) });
      const failed = await outboxRowWhen(t.db, `stripe_refund:last:${booking.id}`, (r) => r.status !== 'pending');
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.any(String) });
    } finally {
      t.fakeStripe.setFault({ mode: 'none' });
    }
    expect(await bookingRow(t, booking.id)).toMatchObject({ needsAttention: true });
  });
});

describe('the relay repairs rows whose job can no longer finish them', () => {
  const muchLater = () => ({ ...t.deps, clock: { now: () => new Date(Date.now() + 10 * 60_000) } });

  it('a row handed over whose job Redis lost is enqueued again, and runs once', async () => {
    const { booking, paymentIntentId } = await confirmedBooking();
    const id = (await enqueueOutbox(t.db, 'stripe_refund', `lost:${booking.id}`, { bookingId: booking.id, paymentIntentId }, new Date()))!;
    // Handed over, then lost (a failover): the row says enqueued, BullMQ has no such job.
    await markOutboxEnqueued(t.db, [id]);
    expect(await t.queues.stripe.getJob(outboxJobId(id))).toBeUndefined();
    expect((await relayOutbox(t.deps, t.queues)).reEnqueued).toBe(0); // too early to call it lost
    expect((await relayOutbox(muchLater(), t.queues)).reEnqueued).toBe(1);
    await outboxRowWhen(t.db, `stripe_refund:lost:${booking.id}`, (r) => r.status === 'dispatched');
    expect([...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === paymentIntentId)).toHaveLength(1);
    expect((await relayOutbox(muchLater(), t.queues)).reEnqueued).toBe(0);
  });

  it('a row whose job ended without recording an outcome becomes failed, flagged and requeueable', async () => {
    const { booking, paymentIntentId } = await confirmedBooking();
    await t.db.update(bookings).set({ needsAttention: false }).where(eq(bookings.id, booking.id));
    // A job that ended while its row was not there to record it: the row stays pending behind a finished job.
    const [{ maxId }] = (await t.db.select({ maxId: sql<number>`COALESCE(MAX(id), 0)` }).from(outbox)) as [{ maxId: number }];
    const id = Number(maxId) + 1000;
    const data: OutboxJobData = { outboxId: id, topic: 'stripe_refund', requestId: null };
    await t.queues.stripe.add('stripe_refund', data, { ...OUTBOX_JOBS.stripe_refund.opts, jobId: outboxJobId(id) });
    await eventually(async () => ((await (await t.queues.stripe.getJob(outboxJobId(id)))?.isCompleted()) ? true : null));
    await t.db.insert(outbox).values({ id, topic: 'stripe_refund', dedupeKey: `stripe_refund:ended:${booking.id}`, payload: { bookingId: booking.id, paymentIntentId }, availableAt: new Date() });
    await markOutboxEnqueued(t.db, [id]);

    expect((await relayOutbox(muchLater(), t.queues)).endedUnrecorded).toBe(1);
    const [row] = await t.db.select().from(outbox).where(eq(outbox.id, id));
    expect(row).toMatchObject({ status: 'failed', lastError: expect.stringMatching(/job completed without recording an outcome/) });
    expect(await bookingRow(t, booking.id)).toMatchObject({ needsAttention: true, attentionReason: expect.stringMatching(/^stripe_refund failed/) });
    expect([...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === paymentIntentId)).toHaveLength(0);
  });
});

describe('webhook retries', () => {
  it('a verified event that keeps failing gets a retry job, and is flagged needs_attention after its last attempt', async () => {
    const flow = await bookAndOpenCheckout(t, { seats: 10, passengers: 1 });
    const completed = t.fakeStripe.completeSession(flow.sessionId).find((e) => e.type === 'checkout.session.completed')!;
    // The fault lives in the database: every ledger write is refused.
    await t.db.execute(sql.raw(`CREATE TRIGGER trg_jobs_refuse_ledger BEFORE INSERT ON financial_ledger FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger offline'`));
    try {
      expect((await t.fakeStripe.deliver(completed)).status).toBe(500);
      const scheduled = (await t.queues.webhookRetry.getJob(webhookRetryJobId(completed.id)))!;
      expect(await scheduled.isDelayed()).toBe(true);
      expect(scheduled.data).toMatchObject({ eventId: completed.id, requestId: expect.any(String) });
      // The same job at its last attempt, now.
      await scheduled.remove();
      const data: WebhookRetryJobData = { eventId: completed.id, requestId: null };
      await t.queues.webhookRetry.add('retry-stripe-event', data, { ...WEBHOOK_RETRY.opts, attempts: 1, jobId: webhookRetryJobId(completed.id) });
      await eventually(async () => (await eventRow(t, completed.id))?.needsAttention);
    } finally {
      await t.db.execute(sql.raw('DROP TRIGGER IF EXISTS trg_jobs_refuse_ledger'));
    }
    // Two failures (the delivery, the retry): below the unexplained-failure threshold, so the flag is the retry's.
    expect(await eventRow(t, completed.id)).toMatchObject({ processed: false, needsAttention: true, retryCount: 2 });
    expect((await bookingRow(t, flow.booking.id)).status).toBe('pending_payment');

    // The cause is gone and an operator clears the flag: a new retry takes the failed job's id.
    await t.db.update(stripeEvents).set({ needsAttention: false }).where(eq(stripeEvents.id, completed.id));
    await t.deps.jobs.stripeEventFailed(completed.id);
    await skipBackOff(t.queues.webhookRetry, webhookRetryJobId(completed.id));
    await eventually(async () => (await eventRow(t, completed.id))?.processed);
    expect((await bookingRow(t, flow.booking.id)).status).toBe('confirmed');
  });
});
