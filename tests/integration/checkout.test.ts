import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { afterEach, describe, expect, it } from 'vitest';
import { count, eq } from 'drizzle-orm';
import { createUser } from '../support/users.js';
import { createFlight, seatsAvailable } from '../support/flights.js';
import { trpcError } from '../support/trpc-errors.js';
import { bookingRow, ledgerFor, newKey, passengers } from '../support/booking-flow.js';
import { bookings, idempotencyRequests, outbox, payments } from '../../server/db/schema/index.js';
import { inventoryViolations } from '../../server/services/inventory.js';
import { outboxRowWhen, skipOutboxBackOff } from '../support/jobs.js';
import { createCheckoutSession } from '../../server/services/payments.js';
import { enqueueOutbox } from '../../server/services/outbox.js';
import { OUTBOX_JOBS, outboxJobId, type OutboxJobData } from '../../server/jobs/queues.js';
import { requeueFailedOutbox } from '../../server/jobs/requeue.js';
import { createStripe } from '../../server/lib/stripe.js';
import { AppError } from '../../server/lib/errors.js';
import { env } from '../../server/env.js';
import { paymentIntentAt, paymentIntentIdOf, sessionAt } from '../support/stripe-state.js';
import type { TestContext } from '../support/harness.js';
import { useTestApp } from '../support/lifecycle.js';

const APP_BASE_URL = 'http://localhost:5173';

type User = Awaited<ReturnType<typeof createUser>>;

/** Flights the current test created: the afterEach hooks check their seat counts are whole. */
let touchedFlights: number[] = [];

/** A signed-in traveller with a pending_payment booking of `passengers` seats on a fresh flight. */
async function pendingBooking(t: TestContext, opts: { passengers?: number; seats?: number; priceMinor?: number; user?: User } = {}) {
  const user = opts.user ?? (await createUser(t.db));
  const flightId = await createFlight(t.db, { seats: opts.seats ?? 10, priceMinor: opts.priceMinor ?? 45_000 });
  touchedFlights.push(flightId);
  const client = t.trpc(user.accessToken);
  const booking = await client.bookings.create.mutate({ flightId, passengers: passengers(opts.passengers ?? 2), idempotencyKey: newKey() });
  return { user, flightId, client, booking };
}


const paymentRows = (t: TestContext, bookingId: number) => t.db.select().from(payments).where(eq(payments.bookingId, bookingId));
/** The sessions the Stripe emulator holds for a booking (client_reference_id is the booking id). */
const sessionsAtStripe = (t: TestContext, bookingId: number) =>
  [...t.fakeStripe.sessions.values()].filter((s) => s.client_reference_id === String(bookingId));
const createRequests = (t: TestContext, bookingId: number) =>
  t.fakeStripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions' && r.body.client_reference_id === String(bookingId));
const refundRequests = (t: TestContext, paymentIntentId: string) =>
  t.fakeStripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds' && r.body.payment_intent === paymentIntentId);

/** The outbox row once its job has run (the Stripe queue's worker runs in-process). */
const outboxRowOnce = (t: TestContext, dedupeKey: string, check: (row: typeof outbox.$inferSelect) => boolean) => outboxRowWhen(t.db, dedupeKey, check);
const dispatched = (row: { status: string }) => row.status === 'dispatched';
const failedOnce = (row: { status: string; attempts: number }) => row.status === 'pending' && row.attempts === 1;

async function idempotencyRowCount(t: TestContext, idempotencyKey: string) {
  const [row] = await t.db.select({ n: count() }).from(idempotencyRequests).where(eq(idempotencyRequests.idempotencyKey, idempotencyKey));
  return row!.n;
}

/** After each scenario: Stripe healthy again, and seats_available + seats held = seats_total on every flight it touched. */
async function afterScenario(t: TestContext) {
  t.fakeStripe.setFault({ mode: 'none' });
  const flightIds = touchedFlights;
  touchedFlights = [];
  if (flightIds.length) expect(await inventoryViolations(t.db, flightIds)).toEqual([]);
}

/** Pays the booking's session at the Stripe emulator, which delivers its events to the app's webhook. */
async function payAndConfirm(t: TestContext, bookingId: number, sessionId: string): Promise<string> {
  const results = await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(sessionId));
  expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
  const paymentIntentId = paymentIntentIdOf(t.fakeStripe, sessionId);
  expect(paymentIntentId).toMatch(/^pi_/);
  expect(await bookingRow(t, bookingId)).toMatchObject({ status: 'confirmed', stripePaymentIntentId: paymentIntentId });
  return paymentIntentId;
}

describe('payments.createCheckoutSession', () => {
  const t = useTestApp();
  afterEach(() => afterScenario(t));

  it('opens a Checkout Session priced in lower-case sar for the booking total, tied to the booking, expiring no sooner than 30 minutes', async () => {
    const { booking, client } = await pendingBooking(t, { passengers: 3, priceMinor: 45_050 });
    const before = Date.now();
    const res = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });

    const session = sessionAt(t.fakeStripe, res.sessionId);
    expect(res.url).toBe(session.url);
    expect(res.expiresAt).toBe(new Date(session.expires_at * 1000).toISOString());
    expect(session).toMatchObject({ mode: 'payment', status: 'open', client_reference_id: String(booking.id), metadata: { bookingId: String(booking.id) } });
    expect(session.amount_total).toBe(booking.totalMinor);
    expect(session.expires_at * 1000).toBeGreaterThanOrEqual(before + 30 * 60_000);
    expect(session.success_url?.startsWith(APP_BASE_URL)).toBe(true);
    expect(session.cancel_url?.startsWith(APP_BASE_URL)).toBe(true);

    // What the app sent, exactly as Stripe received it.
    const sent = createRequests(t, booking.id);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.idempotencyKey).toMatch(new RegExp(`^checkout-booking-${booking.id}-0-\\d+$`)); // booking, attempt, planned expiry
    const items = sent[0]!.body.line_items as any[];
    expect(items).toHaveLength(1);
    expect(items[0].price_data.currency).toBe('sar');
    expect(Number(items[0].price_data.unit_amount) * Number(items[0].quantity)).toBe(booking.totalMinor);
    expect(sent[0]!.body).toMatchObject({ payment_intent_data: { metadata: { bookingId: String(booking.id) } } });

    // And as Stripe hands it back.
    const lineItems = await t.deps.stripe.checkout.sessions.listLineItems(res.sessionId);
    expect(lineItems.data).toHaveLength(1);
    expect(lineItems.data[0]).toMatchObject({ currency: 'sar', quantity: 3, amount_total: booking.totalMinor });

    // A session never outlives its seats.
    const row = await bookingRow(t, booking.id);
    expect(row.status).toBe('pending_payment');
    expect(row.stripeCheckoutSessionId).toBe(res.sessionId);
    expect(row.holdExpiresAt!.getTime()).toBeGreaterThanOrEqual(session.expires_at * 1000);
    expect((await client.bookings.byId.query({ id: booking.id })).holdExpiresAt).toBe(row.holdExpiresAt!.toISOString());

    expect(await paymentRows(t, booking.id)).toMatchObject([
      { stripeCheckoutSessionId: res.sessionId, checkoutUrl: res.url, status: 'open', amountMinor: booking.totalMinor, currency: 'SAR' },
    ]);
  });

  it('puts the bookingId on the payment intent too, so payment events carry it', async () => {
    const { booking, client } = await pendingBooking(t);
    const res = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    t.fakeStripe.completeSession(res.sessionId);
    const pi = paymentIntentAt(t.fakeStripe, paymentIntentIdOf(t.fakeStripe, res.sessionId));
    expect(pi.metadata).toEqual({ bookingId: String(booking.id) });
  });

  it('returns the open session to a second call with another key, and replays the same key', async () => {
    const { booking, client } = await pendingBooking(t);
    const k = newKey();
    const first = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k });
    const second = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    expect(second.sessionId).toBe(first.sessionId);
    expect(second.url).toBe(first.url);
    expect(second).toEqual(first);
    expect(await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k })).toEqual(first);
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(1);
    expect(createRequests(t, booking.id)).toHaveLength(1);
    expect(await paymentRows(t, booking.id)).toHaveLength(1);
  });

  it('refuses the same key for another booking as a payload mismatch', async () => {
    const { booking, client, user } = await pendingBooking(t);
    const { booking: other } = await pendingBooking(t, { user });
    const k = newKey();
    await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k });
    expect(await trpcError(client.payments.createCheckoutSession.mutate({ bookingId: other.id, idempotencyKey: k }))).toMatchObject({
      code: 'UNPROCESSABLE_CONTENT',
      appCode: 'IDEMPOTENCY_PAYLOAD_MISMATCH',
    });
    expect(sessionsAtStripe(t, other.id)).toHaveLength(0);
  });

  it('50 concurrent calls with one key open exactly one session; every success is identical, the rest IDEMPOTENCY_IN_PROGRESS', async () => {
    const { booking, client } = await pendingBooking(t);
    const k = newKey();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<any>).value);
    const failed = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of ok) expect(r).toEqual(ok[0]);
    for (const e of failed) expect(e.data?.appCode).toBe('IDEMPOTENCY_IN_PROGRESS');
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(1);
    expect(sessionsAtStripe(t, booking.id)[0]!.id).toBe(ok[0].sessionId);
    expect(await paymentRows(t, booking.id)).toHaveLength(1);
    // After the storm, the key answers with the same session.
    expect(await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k })).toEqual(ok[0]);
  });

  it('10 concurrent calls with different keys for one booking converge on one session', async () => {
    const { booking, client } = await pendingBooking(t);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<any>).value);
    expect(ok).toHaveLength(10);
    expect(new Set(ok.map((r) => r.sessionId)).size).toBe(1);
    expect(new Set(ok.map((r) => r.url)).size).toBe(1);
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(1);
    expect(await paymentRows(t, booking.id)).toHaveLength(1);
    const row = await bookingRow(t, booking.id);
    expect(row.stripeCheckoutSessionId).toBe(ok[0].sessionId);
    expect(row.holdExpiresAt!.getTime()).toBeGreaterThanOrEqual(sessionsAtStripe(t, booking.id)[0]!.expires_at * 1000);
  });

  it('refuses a cancelled booking, another user’s booking, and a caller without a token', async () => {
    const { booking, client } = await pendingBooking(t);
    const stranger = await createUser(t.db);
    expect(await trpcError(t.trpc(stranger.accessToken).payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() }))).toMatchObject({
      code: 'NOT_FOUND',
      appCode: 'NOT_FOUND',
    });
    expect(await trpcError(t.trpc().payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() }))).toMatchObject({
      code: 'UNAUTHORIZED',
    });
    await client.bookings.cancel.mutate({ id: booking.id, idempotencyKey: newKey() });
    const err = await trpcError(client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() }));
    expect(err).toMatchObject({ code: 'CONFLICT', appCode: 'INVALID_STATE_TRANSITION' });
    expect(err.message).toMatch(/cancelled/);
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(0);
    expect(await paymentRows(t, booking.id)).toHaveLength(0);
  });

  it('refuses a booking whose seat hold has lapsed (not yet swept by the expiry job) and opens nothing at Stripe', async () => {
    const { client, booking } = await pendingBooking(t);
    await t.db.update(bookings).set({ holdExpiresAt: new Date(Date.now() - 1000) }).where(eq(bookings.id, booking.id));
    expect(await trpcError(client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() }))).toMatchObject({
      appCode: 'INVALID_STATE_TRANSITION',
      message: expect.stringMatching(/hold .* has lapsed/),
    });
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(0);
    expect((await bookingRow(t, booking.id)).holdExpiresAt!.getTime()).toBeLessThan(Date.now());
  });

  it('refuses a second payment page, and a cancel, while a delayed payment is being processed', async () => {
    const { client, booking } = await pendingBooking(t);
    const first = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    const [completed] = t.fakeStripe.completeSession(first.sessionId, { async: true });
    expect((await t.fakeStripe.deliver(completed)).status).toBe(200);
    expect((await bookingRow(t, booking.id)).paymentStatus).toBe('processing');
    expect(await trpcError(client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() }))).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/already being processed/),
    });
    expect(await trpcError(client.bookings.cancel.mutate({ id: booking.id, idempotencyKey: newKey() }))).toMatchObject({ code: 'CONFLICT' });
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(1);
    expect((await bookingRow(t, booking.id)).status).toBe('pending_payment');
  });

  it('never holds seats past the ceiling however many payment pages are opened', async () => {
    const { client, booking } = await pendingBooking(t);
    // As if the booking had been kept alive by fresh payment pages for three hours.
    await t.db.update(bookings).set({ createdAt: new Date(Date.now() - 3 * 3600_000) }).where(eq(bookings.id, booking.id));
    expect(await trpcError(client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() }))).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/cannot be held any longer/),
    });
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(0);
  });

  it('answers a clear retryable error when Stripe fails, writes nothing half-way, and the same key succeeds later', async () => {
    const { booking, client } = await pendingBooking(t);
    const k = newKey();
    t.fakeStripe.setFault({ mode: 'error' });
    const err = await trpcError(client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k }));
    expect(err).toMatchObject({ code: 'SERVICE_UNAVAILABLE', appCode: 'PAYMENT_PROVIDER_UNAVAILABLE', httpStatus: 503 });
    expect(err.message).toMatch(/retry/i);
    expect(createRequests(t, booking.id)).toHaveLength(1); // it was tried, once
    expect(await paymentRows(t, booking.id)).toHaveLength(0);
    const row = await bookingRow(t, booking.id);
    expect(row).toMatchObject({ status: 'pending_payment', paymentStatus: 'unpaid', stripeCheckoutSessionId: null, seatsHeld: 2 });
    expect(await idempotencyRowCount(t, k)).toBe(0);

    t.fakeStripe.setFault({ mode: 'none' });
    const res = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k });
    expect(sessionsAtStripe(t, booking.id).map((s) => s.id)).toEqual([res.sessionId]);
    expect((await bookingRow(t, booking.id)).stripeCheckoutSessionId).toBe(res.sessionId);
  });

  it('when Stripe created the session but the answer was lost, a retry with the same key gets exactly that session', async () => {
    const { booking, client } = await pendingBooking(t);
    const k = newKey();
    t.fakeStripe.setFault({ mode: 'error', after: true, times: 1 });
    expect(await trpcError(client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k }))).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      appCode: 'PAYMENT_PROVIDER_UNAVAILABLE',
    });
    const created = sessionsAtStripe(t, booking.id);
    expect(created).toHaveLength(1);
    expect(await paymentRows(t, booking.id)).toHaveLength(0);
    expect((await bookingRow(t, booking.id)).stripeCheckoutSessionId).toBeNull();
    // The seats are already held at least as long as the session Stripe opened.
    expect((await bookingRow(t, booking.id)).holdExpiresAt!.getTime()).toBeGreaterThanOrEqual(created[0]!.expires_at * 1000);

    const res = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k });
    expect(res.sessionId).toBe(created[0]!.id);
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(1);
    const sent = createRequests(t, booking.id);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.idempotencyKey).toBe(sent[0]!.idempotencyKey);
    expect(await paymentRows(t, booking.id)).toMatchObject([{ stripeCheckoutSessionId: res.sessionId, status: 'open' }]);
  });
});

describe('payments.createCheckoutSession when Stripe hangs', () => {
  const t = useTestApp({ stripeTimeoutMs: 500 });
  afterEach(() => afterScenario(t));

  it('gives up after the timeout with a retryable error, writes nothing half-way, and the same key succeeds later', async () => {
    const { booking, client } = await pendingBooking(t);
    const k = newKey();
    t.fakeStripe.setFault({ mode: 'hang' });
    const err = await trpcError(client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k }));
    expect(err).toMatchObject({ code: 'SERVICE_UNAVAILABLE', appCode: 'PAYMENT_PROVIDER_UNAVAILABLE', httpStatus: 503 });
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(0);
    expect(await paymentRows(t, booking.id)).toHaveLength(0);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'pending_payment', stripeCheckoutSessionId: null, seatsHeld: 2 });
    expect(await idempotencyRowCount(t, k)).toBe(0);

    t.fakeStripe.setFault({ mode: 'none' });
    const res = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k });
    expect(sessionsAtStripe(t, booking.id).map((s) => s.id)).toEqual([res.sessionId]);
  });

  it('when Stripe created the session and then hung, a retry with the same key gets that session', async () => {
    const { booking, client } = await pendingBooking(t);
    const k = newKey();
    t.fakeStripe.setFault({ mode: 'hang', after: true, times: 1 });
    expect(await trpcError(client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k }))).toMatchObject({
      appCode: 'PAYMENT_PROVIDER_UNAVAILABLE',
    });
    const created = sessionsAtStripe(t, booking.id);
    expect(created).toHaveLength(1);
    expect(await paymentRows(t, booking.id)).toHaveLength(0);
    const res = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k });
    expect(res.sessionId).toBe(created[0]!.id);
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(1);
  });
});

describe('bookings.cancel of a booking with an open Checkout Session', () => {
  const t = useTestApp({ workers: true });
  afterEach(() => afterScenario(t));

  it('expires the session at Stripe after the commit', async () => {
    const { booking, client, flightId } = await pendingBooking(t);
    const { sessionId } = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    const cancelled = await client.bookings.cancel.mutate({ id: booking.id, idempotencyKey: newKey() });
    expect(cancelled.status).toBe('cancelled');
    expect(await outboxRowOnce(t, `stripe_expire_session:${sessionId}`, dispatched)).toMatchObject({ topic: 'stripe_expire_session', status: 'dispatched' });
    expect(sessionAt(t.fakeStripe, sessionId).status).toBe('expired');
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
  });

  it('still cancels when Stripe fails, and the Stripe queue expires the session once Stripe is back', async () => {
    const { booking, client, flightId } = await pendingBooking(t);
    const { sessionId } = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    t.fakeStripe.setFault({ mode: 'error' });
    const cancelled = await client.bookings.cancel.mutate({ id: booking.id, idempotencyKey: newKey() });
    expect(cancelled.status).toBe('cancelled');
    expect((await bookingRow(t, booking.id)).status).toBe('cancelled');
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
    const job = await outboxRowOnce(t, `stripe_expire_session:${sessionId}`, failedOnce);
    expect(job).toMatchObject({ topic: 'stripe_expire_session', status: 'pending', attempts: 1 });
    expect(job.lastError).toBeTruthy();
    expect(sessionAt(t.fakeStripe, sessionId).status).toBe('open');

    t.fakeStripe.setFault({ mode: 'none' });
    await skipOutboxBackOff(t.queues.stripe, job.id);
    expect(await outboxRowOnce(t, `stripe_expire_session:${sessionId}`, dispatched)).toMatchObject({ status: 'dispatched', attempts: 2 });
    expect(sessionAt(t.fakeStripe, sessionId).status).toBe('expired');
  });
});

describe('payments.requestRefund', () => {
  const t = useTestApp({ workers: true });
  afterEach(() => afterScenario(t));

  it('refuses a pending_payment booking, naming pending_payment and refund_pending', async () => {
    const { booking, client } = await pendingBooking(t);
    await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    const err = await trpcError(client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() }));
    expect(err).toMatchObject({ code: 'CONFLICT', appCode: 'INVALID_STATE_TRANSITION' });
    expect(err.message).toMatch(/pending_payment/);
    expect(err.message).toMatch(/refund_pending/);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'pending_payment', seatsHeld: 2 });
    expect(t.fakeStripe.requests.filter((r) => r.path === '/v1/refunds')).toHaveLength(0);
  });

  it('refuses a cancelled booking that was never paid with INVALID_STATE_TRANSITION, not an internal error', async () => {
    const { booking, client, flightId } = await pendingBooking(t);
    await client.bookings.cancel.mutate({ id: booking.id, idempotencyKey: newKey() });
    const err = await trpcError(client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() }));
    expect(err).toMatchObject({ code: 'CONFLICT', appCode: 'INVALID_STATE_TRANSITION' });
    expect(err.message).toMatch(/from cancelled to refund_pending/);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'cancelled', seatsHeld: 0 });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
  });

  it('refuses another user’s booking with NOT_FOUND and a caller without a token with UNAUTHORIZED', async () => {
    const { booking, client } = await pendingBooking(t);
    const { sessionId } = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    await payAndConfirm(t, booking.id, sessionId);
    const stranger = await createUser(t.db);
    expect(await trpcError(t.trpc(stranger.accessToken).payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() }))).toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await trpcError(t.trpc().payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() }))).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await bookingRow(t, booking.id)).status).toBe('confirmed');
  });

  it('moves a confirmed booking to refund_pending, releases its seats once and asks Stripe for one refund', async () => {
    const { booking, client, flightId } = await pendingBooking(t, { passengers: 2, seats: 10 });
    const { sessionId } = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    const paymentIntentId = await payAndConfirm(t, booking.id, sessionId);
    expect(await seatsAvailable(t.db, flightId)).toBe(8);

    const k = newKey();
    const refunded = await client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: k, reason: 'plans changed' });
    expect(refunded).toMatchObject({ id: booking.id, status: 'refund_pending' });
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'refund_pending', seatsHeld: 0, stripePaymentIntentId: paymentIntentId });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
    expect(await outboxRowOnce(t, `stripe_refund:booking:${booking.id}`, dispatched)).toMatchObject({ topic: 'stripe_refund', status: 'dispatched' });

    const sent = refundRequests(t, paymentIntentId);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.idempotencyKey).toBe(`refund-booking-${booking.id}`);
    expect(sent[0]!.body.payment_intent).toBe(paymentIntentId);
    expect([...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === paymentIntentId)).toHaveLength(1);

    // Same key: the stored answer, and no second refund.
    expect(await client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: k, reason: 'plans changed' })).toEqual(refunded);
    // Another key: refund_pending -> refund_pending is not a move.
    const err = await trpcError(client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() }));
    expect(err).toMatchObject({ code: 'CONFLICT', appCode: 'INVALID_STATE_TRANSITION' });
    expect(err.message).toMatch(/from refund_pending to refund_pending/);
    expect(refundRequests(t, paymentIntentId)).toHaveLength(1);
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
  });

  it('commits refund_pending when Stripe fails, and the Stripe queue makes exactly one refund once Stripe is back', async () => {
    const { booking, client, flightId } = await pendingBooking(t, { passengers: 3, seats: 10 });
    const { sessionId } = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    const paymentIntentId = await payAndConfirm(t, booking.id, sessionId);

    t.fakeStripe.setFault({ mode: 'error' });
    const refunded = await client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    expect(refunded.status).toBe('refund_pending');
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'refund_pending', seatsHeld: 0 });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
    const job = await outboxRowOnce(t, `stripe_refund:booking:${booking.id}`, failedOnce);
    expect(job).toMatchObject({ topic: 'stripe_refund', status: 'pending', attempts: 1 });
    expect(job.lastError).toBeTruthy();
    expect([...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === paymentIntentId)).toHaveLength(0);

    t.fakeStripe.setFault({ mode: 'none' });
    await skipOutboxBackOff(t.queues.stripe, job.id);
    expect(await outboxRowOnce(t, `stripe_refund:booking:${booking.id}`, dispatched)).toMatchObject({ status: 'dispatched', attempts: 2 });
    // The hand-off again (a relay sweep racing the API): job id outbox-<id> is taken, nothing runs twice.
    await t.deps.jobs.outboxCommitted([job.id]);
    const made = [...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === paymentIntentId);
    expect(made).toHaveLength(1);
    expect(made[0]!.amount).toBe(booking.totalMinor);
  });

  it('a refund that Stripe made although its answer was lost is not made twice by the retry', async () => {
    const { booking, client } = await pendingBooking(t);
    const { sessionId } = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    const paymentIntentId = await payAndConfirm(t, booking.id, sessionId);
    t.fakeStripe.setFault({ mode: 'error', after: true, times: 1, pathPrefix: '/v1/refunds', method: 'POST' });
    await client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    const job = await outboxRowOnce(t, `stripe_refund:booking:${booking.id}`, failedOnce);
    await skipOutboxBackOff(t.queues.stripe, job.id);
    await outboxRowOnce(t, `stripe_refund:booking:${booking.id}`, dispatched);
    // The retry finds the refund at Stripe by its metadata and adopts it: no second request to make it.
    expect(refundRequests(t, paymentIntentId)).toHaveLength(1);
    expect([...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === paymentIntentId)).toHaveLength(1);
  });

  it('a refund that Stripe made more than a day before outbox:retry requeues its failed row is adopted, not made again', async () => {
    const { booking, client } = await pendingBooking(t);
    const { sessionId } = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    const paymentIntentId = await payAndConfirm(t, booking.id, sessionId);
    // A partial refund from the Dashboard first: money remains on the charge, so a second refund of
    // ours would go through at Stripe rather than be refused.
    await t.fakeStripe.deliverAll(t.fakeStripe.refundFromDashboard(paymentIntentId, 10_000));
    const dedupeKey = `stripe_refund:booking:${booking.id}`;
    const id = (await enqueueOutbox(t.db, 'stripe_refund', `booking:${booking.id}`, { bookingId: booking.id, paymentIntentId, amountMinor: 20_000 }, new Date()))!;
    // Its last attempt reaches Stripe, which makes the refund, but the answer is lost: the row fails for good.
    t.fakeStripe.setFault({ mode: 'error', after: true, times: 1, pathPrefix: '/v1/refunds', method: 'POST' });
    const data: OutboxJobData = { outboxId: id, topic: 'stripe_refund', requestId: 'req-lost-refund' };
    await t.queues.stripe.add('stripe_refund', data, { ...OUTBOX_JOBS.stripe_refund.opts, attempts: 1, jobId: outboxJobId(id) });
    await outboxRowOnce(t, dedupeKey, (r) => r.status === 'failed');
    const made = [...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === paymentIntentId && r.amount === 20_000);
    expect(made).toHaveLength(1);
    await t.fakeStripe.deliverAll(t.fakeStripe.events.filter((e) => e.type === 'refund.created' && (e.data.object as Stripe.Refund).id === made[0]!.id));

    // A day later Stripe has forgotten the idempotency key; the operator requeues the row.
    t.fakeStripe.forgetIdempotencyKeys();
    expect(await requeueFailedOutbox(t.db, t.queues, id)).not.toBeNull();
    expect(await outboxRowOnce(t, dedupeKey, dispatched)).toMatchObject({ attempts: 2, lastError: null });
    expect(refundRequests(t, paymentIntentId)).toHaveLength(1);
    expect([...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === paymentIntentId).map((r) => r.amount)).toEqual([10_000, 20_000]);
    const refunds = (await ledgerFor(t, booking.id)).filter((e) => e.entryType === 'refund');
    expect(refunds.map((e) => [e.stripeRefundId, e.amountMinor])).toEqual([
      [expect.any(String), 10_000],
      [made[0]!.id, 20_000],
    ]);
  });
});

/** A server that answers every request the way Stripe answers a key whose first request is still running. */
async function startStripeInProgress(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({
        error: {
          type: 'idempotency_error',
          message: 'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through). Please try again later.',
        },
      });
      res.writeHead(409, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// Races that HTTP cannot line up deterministically: the service is called directly, with a Stripe client
// that does what Stripe would do at that moment.
describe('createCheckoutSession races', () => {
  const t = useTestApp({ workers: true });
  afterEach(() => afterScenario(t));

  /** The app's Stripe client, except that sessions.create runs `after` once Stripe has created the session. */
  function stripeThatThen(after: (session: Stripe.Checkout.Session) => Promise<void>): Stripe {
    const real = t.deps.stripe;
    return {
      checkout: {
        sessions: {
          create: async (params: Stripe.Checkout.SessionCreateParams, opts: Stripe.RequestOptions) => {
            const session = await real.checkout.sessions.create(params, opts);
            await after(session);
            return session;
          },
          expire: (id: string) => real.checkout.sessions.expire(id),
        },
      },
      refunds: real.refunds,
    } as unknown as Stripe;
  }

  it('expires, through the outbox, a session Stripe opened for a booking cancelled while it answered', async () => {
    const { booking, client, user } = await pendingBooking(t);
    let opened: string | undefined;
    const stripe = stripeThatThen(async (session) => {
      opened = session.id;
      await client.bookings.cancel.mutate({ id: booking.id, idempotencyKey: newKey() });
      // The first attempt to expire it fails: the outbox must keep it.
      t.fakeStripe.setFault({ mode: 'error', times: 1, pathPrefix: `/v1/checkout/sessions/${session.id}/expire` });
    });
    const err = await createCheckoutSession({ ...t.deps, stripe }, { userId: user.id, role: 'traveller' }, { bookingId: booking.id, idempotencyKey: newKey() }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('INVALID_STATE_TRANSITION');
    expect(sessionAt(t.fakeStripe, opened!).status).toBe('open');
    expect(await paymentRows(t, booking.id)).toHaveLength(0);
    const job = await outboxRowOnce(t, `stripe_expire_session:${opened}`, failedOnce);
    await skipOutboxBackOff(t.queues.stripe, job.id);
    await outboxRowOnce(t, `stripe_expire_session:${opened}`, dispatched);
    expect(sessionAt(t.fakeStripe, opened!).status).toBe('expired');
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'cancelled', seatsHeld: 0 });
  });

  // Against real Stripe, concurrent calls sharing a plan send the same Stripe key at once; Stripe answers
  // all but one with 409 (the SDK reports it as an API error). That must reach the client as retryable.
  it('answers a retryable PAYMENT_PROVIDER_UNAVAILABLE, not an internal error, while Stripe is still running a request with the same key', async () => {
    const { booking, client, user } = await pendingBooking(t);
    const busy = await startStripeInProgress();
    try {
      const stripe = createStripe(env.STRIPE_SECRET_KEY, busy.url, { maxNetworkRetries: 0, timeoutMs: 3000 });
      const k = newKey();
      const err = await createCheckoutSession({ ...t.deps, stripe }, { userId: user.id, role: 'traveller' }, { bookingId: booking.id, idempotencyKey: k }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('PAYMENT_PROVIDER_UNAVAILABLE');
      expect(await idempotencyRowCount(t, k)).toBe(0);
      expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'pending_payment', stripeCheckoutSessionId: null });
      // The retry the error invites succeeds.
      const res = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: k });
      expect(sessionsAtStripe(t, booking.id).map((s) => s.id)).toEqual([res.sessionId]);
    } finally {
      await busy.close();
    }
  });
});

// An open session too close to its expiry to hand out is replaced by a new one; the old one must not
// stay payable meanwhile, or a traveller with two tabs pays twice. `now` is moved to that moment.
describe('replacing a session that is about to expire', () => {
  const t = useTestApp();
  afterEach(() => afterScenario(t));

  it('expires the old session at Stripe before opening the new one', async () => {
    const { booking, client, user } = await pendingBooking(t);
    const first = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    const lateNow = new Date(Date.parse(first.expiresAt) - 60_000);
    const second = await createCheckoutSession({ ...t.deps, clock: { now: () => lateNow } }, { userId: user.id, role: 'traveller' }, { bookingId: booking.id, idempotencyKey: newKey() });
    expect(second.sessionId).not.toBe(first.sessionId);
    expect(sessionAt(t.fakeStripe, first.sessionId).status).toBe('expired');
    expect(sessionAt(t.fakeStripe, second.sessionId).status).toBe('open');
    expect(sessionsAtStripe(t, booking.id).filter((s) => s.status === 'open')).toHaveLength(1);
    const rows = await paymentRows(t, booking.id);
    expect(rows.map((r) => [r.stripeCheckoutSessionId, r.status])).toEqual([
      [first.sessionId, 'expired'],
      [second.sessionId, 'open'],
    ]);
    const row = await bookingRow(t, booking.id);
    expect(row.stripeCheckoutSessionId).toBe(second.sessionId);
    expect(row.holdExpiresAt!.getTime()).toBeGreaterThanOrEqual(Date.parse(second.expiresAt));
  });

  it('opens no second session when the old one has just been paid', async () => {
    const { booking, client, user } = await pendingBooking(t);
    const first = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    t.fakeStripe.completeSession(first.sessionId); // paid; the webhook has not arrived yet
    const lateNow = new Date(Date.parse(first.expiresAt) - 60_000);
    const err = await createCheckoutSession({ ...t.deps, clock: { now: () => lateNow } }, { userId: user.id, role: 'traveller' }, { bookingId: booking.id, idempotencyKey: newKey() }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('CONFLICT');
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(1);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'pending_payment', stripeCheckoutSessionId: first.sessionId });
  });

  it('answers a retryable error, and opens nothing, when Stripe cannot expire the old session', async () => {
    const { booking, client, user } = await pendingBooking(t);
    const first = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    t.fakeStripe.setFault({ mode: 'error' });
    const lateNow = new Date(Date.parse(first.expiresAt) - 60_000);
    const err = await createCheckoutSession({ ...t.deps, clock: { now: () => lateNow } }, { userId: user.id, role: 'traveller' }, { bookingId: booking.id, idempotencyKey: newKey() }).catch(
      (e: unknown) => e,
    );
    expect((err as AppError).code).toBe('PAYMENT_PROVIDER_UNAVAILABLE');
    expect(sessionsAtStripe(t, booking.id)).toHaveLength(1);
    expect(sessionAt(t.fakeStripe, first.sessionId).status).toBe('open');
    expect((await bookingRow(t, booking.id)).stripeCheckoutSessionId).toBe(first.sessionId);
  });
});
