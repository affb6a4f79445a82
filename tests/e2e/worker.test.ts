import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { startTestApp, type TestContext } from '../support/harness.js';
import { sharedProcessEnv, spawnEntrypoint, type SpawnedProcess } from '../support/spawn.js';
import { dropRedisPrefix } from '../support/redis.js';
import { bookAndOpenCheckout, bookingRow, newKey } from '../support/booking-flow.js';
import { eventually } from '../support/e2e.js';
import { seatsAvailable } from '../support/flights.js';
import { bookings, outbox } from '../../server/db/schema/index.js';
import { outboxJobId } from '../../server/jobs/queues.js';

let t: TestContext;
let worker: SpawnedProcess | undefined;
let prefix: string;

beforeAll(async () => {
  t = await startTestApp();
  // The worker shares the in-process app's Redis prefix: the jobs the app hands over are its jobs.
  prefix = t.redisPrefix;
});
afterAll(async () => {
  await worker?.stop();
  await t.close();
  await dropRedisPrefix(prefix);
});

function startWorker() {
  worker = spawnEntrypoint('server/worker.ts', sharedProcessEnv({ databaseUrl: t.databaseUrl, redisKeyPrefix: prefix, stripeApiBase: t.fakeStripe.url }));
  return worker.waitForLog((l) => l.msg === 'worker started');
}

describe('the worker process', () => {
  it('runs the jobs the API handed over, sweeps a row never enqueued, expires lapsed holds; job logs carry the request id', async () => {
    // A refund requested while no worker runs: the job waits in the Stripe queue.
    const paid = await bookAndOpenCheckout(t, { seats: 10, passengers: 2 });
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(paid.sessionId));
    await paid.client.payments.requestRefund.mutate({ bookingId: paid.booking.id, idempotencyKey: newKey() });
    const [job] = await t.db.select().from(outbox).where(eq(outbox.dedupeKey, `stripe_refund:booking:${paid.booking.id}`));
    expect(job).toMatchObject({ status: 'pending', attempts: 0, enqueuedAt: expect.any(Date), requestId: expect.any(String) });
    expect(t.fakeStripe.refunds.size).toBe(0);

    // A second refund whose hand-off never happened (Redis down at commit time): only the relay finds it.
    const stranded = await bookAndOpenCheckout(t, { seats: 10, passengers: 1 });
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(stranded.sessionId));
    await stranded.client.payments.requestRefund.mutate({ bookingId: stranded.booking.id, idempotencyKey: newKey() });
    const [lost] = await t.db.select().from(outbox).where(eq(outbox.dedupeKey, `stripe_refund:booking:${stranded.booking.id}`));
    await (await t.queues.stripe.getJob(outboxJobId(lost!.id)))!.remove();
    await t.db.update(outbox).set({ enqueuedAt: null, createdAt: new Date(Date.now() - 60_000) }).where(eq(outbox.id, lost!.id));

    // An unpaid booking whose hold lapsed.
    const lapsed = await bookAndOpenCheckout(t, { seats: 5, passengers: 3 });
    await t.db.update(bookings).set({ holdExpiresAt: new Date(Date.now() - 1000) }).where(eq(bookings.id, lapsed.booking.id));

    await startWorker();
    const done = await eventually(async () => {
      const [row] = await t.db.select().from(outbox).where(eq(outbox.id, job!.id));
      return row?.status === 'dispatched' ? row : null;
    }, 20_000);
    expect(done.attempts).toBe(1);
    const swept = await eventually(async () => {
      const [row] = await t.db.select().from(outbox).where(eq(outbox.id, lost!.id));
      return row?.status === 'dispatched' ? row : null;
    }, 20_000);
    expect(swept).toMatchObject({ attempts: 1, enqueuedAt: expect.any(Date) });
    const refunds = [...t.fakeStripe.refunds.values()];
    expect(refunds).toHaveLength(2);
    expect(refunds.find((r) => r.payment_intent === (job!.payload as { paymentIntentId: string }).paymentIntentId)).toMatchObject({ amount: paid.booking.totalMinor });

    await eventually(async () => (await bookingRow(t, lapsed.booking.id)).status === 'expired', 20_000);
    expect(await seatsAvailable(t.db, lapsed.flightId)).toBe(5);
    await eventually(async () => t.fakeStripe.sessions.get(lapsed.sessionId)?.status === 'expired', 20_000);

    // Every line the worker wrote while running a job carries that job's id.
    expect(await worker!.stop()).toBe(0);
    const expiryLine = worker!.logs.find((l) => l.msg === 'seat hold lapsed; booking expired' && l.bookingId === lapsed.booking.id);
    expect(expiryLine).toMatchObject({ requestId: expect.stringMatching(/^job:expire-holds:/), jobId: expect.any(String) });
    // The refund's job ran under the id of the HTTP request that asked for it.
    const refundLine = worker!.logs.find((l) => l.msg === 'outbox job done' && l.outboxId === job!.id);
    expect(refundLine).toMatchObject({ requestId: job!.requestId, jobId: outboxJobId(job!.id), topic: 'stripe_refund' });
  });
});
