import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { startTestApp, type TestContext } from '../support/harness.js';
import { sharedProcessEnv, spawnEntrypoint, type SpawnedProcess } from '../support/spawn.js';
import { dropRedisPrefix } from '../support/redis.js';
import { bookAndOpenCheckout, bookingRow, newKey } from '../support/booking-flow.js';
import { eventually } from '../support/e2e.js';
import { seatsAvailable } from '../support/flights.js';
import { bookings, outbox } from '../../server/db/schema/index.js';

let t: TestContext;
let worker: SpawnedProcess | undefined;
let prefix: string;

beforeAll(async () => {
  t = await startTestApp();
  prefix = `e2e:worker:${t.databaseName}:`;
});
afterAll(async () => {
  await worker?.stop();
  await dropRedisPrefix(prefix);
  await t.close();
});

function startWorker() {
  worker = spawnEntrypoint('server/worker.ts', sharedProcessEnv({ databaseUrl: t.databaseUrl, redisKeyPrefix: prefix, stripeApiBase: t.fakeStripe.url }));
  return worker.waitForLog((l) => l.msg === 'worker started');
}

describe('the worker process', () => {
  it('retries a refund Stripe refused at request time, once, and expires lapsed holds', async () => {
    // A confirmed booking whose refund request met a Stripe outage.
    const paid = await bookAndOpenCheckout(t, { seats: 10, passengers: 2 });
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(paid.sessionId));
    t.fakeStripe.setFault({ mode: 'error', pathPrefix: '/v1/refunds' });
    await paid.client.payments.requestRefund.mutate({ bookingId: paid.booking.id, idempotencyKey: newKey() });
    t.fakeStripe.setFault({ mode: 'none' });
    const [job] = await t.db.select().from(outbox).where(eq(outbox.dedupeKey, `stripe_refund:booking:${paid.booking.id}`));
    expect(job).toMatchObject({ status: 'pending', attempts: 1 });
    expect(t.fakeStripe.refunds.size).toBe(0);
    // Its back-off has passed.
    await t.db.update(outbox).set({ availableAt: new Date(Date.now() - 1000) }).where(eq(outbox.id, job!.id));

    // An unpaid booking whose hold lapsed.
    const lapsed = await bookAndOpenCheckout(t, { seats: 5, passengers: 3 });
    await t.db.update(bookings).set({ holdExpiresAt: new Date(Date.now() - 1000) }).where(eq(bookings.id, lapsed.booking.id));

    await startWorker();
    const done = await eventually(async () => {
      const [row] = await t.db.select().from(outbox).where(eq(outbox.id, job!.id));
      return row?.status === 'dispatched' ? row : null;
    }, 20_000);
    expect(done.attempts).toBe(2);
    const refunds = [...t.fakeStripe.refunds.values()];
    expect(refunds).toHaveLength(1);
    expect(refunds[0]).toMatchObject({ payment_intent: (await bookingRow(t, paid.booking.id)).stripePaymentIntentId, amount: paid.booking.totalMinor });

    await eventually(async () => (await bookingRow(t, lapsed.booking.id)).status === 'expired', 20_000);
    expect(await seatsAvailable(t.db, lapsed.flightId)).toBe(5);
    await eventually(async () => t.fakeStripe.sessions.get(lapsed.sessionId)?.status === 'expired', 20_000);

    // Every line the worker wrote while running a job carries that job's id.
    expect(await worker!.stop()).toBe(0);
    const expiryLine = worker!.logs.find((l) => l.msg === 'seat hold lapsed; booking expired' && l.bookingId === lapsed.booking.id);
    expect(expiryLine).toMatchObject({ requestId: expect.stringMatching(/^job:expire-holds:/), jobId: expect.any(String) });
  });
});
