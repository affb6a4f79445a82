import { describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { bookAndOpenCheckout, bookingRow, newKey, passengers } from '../support/booking-flow.js';
import { createFlight, seatsAvailable } from '../support/flights.js';
import { createUser } from '../support/users.js';
import { trpcError } from '../support/trpc-errors.js';
import { bookings, bookingTransitions, flights } from '../../server/db/schema/index.js';
import { signAccessToken } from '../../server/services/access-tokens.js';
import { env } from '../../server/env.js';
import { useTestApp } from '../support/lifecycle.js';
import type { TestContext } from '../support/harness.js';

const t = useTestApp();
const MINUTE = 60_000;

/** Moves a flight's departure to `minutes` from now (as a schedule change or the passing of time would). */
async function departsIn(t: TestContext, flightId: number, minutes: number) {
  const departureAt = new Date(Date.now() + minutes * MINUTE);
  await t.db.update(flights).set({ departureAt, arrivalAt: new Date(departureAt.getTime() + 110 * MINUTE) }).where(eq(flights.id, flightId));
}

async function paidBooking() {
  const f = await bookAndOpenCheckout(t, { seats: 10, passengers: 2 });
  await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(f.sessionId));
  expect((await bookingRow(t, f.booking.id)).status).toBe('confirmed');
  return f;
}

const refundCalls = () => t.fakeStripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds').length;

describe('refunds close REFUND_CUTOFF_MINUTES (120) before departure', () => {
  it('a traveller inside the window gets the refund', async () => {
    const { booking, client, flightId } = await paidBooking();
    await departsIn(t, flightId, 121);
    expect(await client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() })).toMatchObject({ status: 'refund_pending' });
  });

  it('past the window a traveller gets REFUND_WINDOW_CLOSED (PRECONDITION_FAILED) and nothing changes', async () => {
    const { booking, client, flightId } = await paidBooking();
    await departsIn(t, flightId, 119);
    const before = refundCalls();
    const err = await trpcError(client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() }));
    expect(err).toMatchObject({ code: 'PRECONDITION_FAILED', appCode: 'REFUND_WINDOW_CLOSED', httpStatus: 412 });
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'confirmed', seatsHeld: 2 });
    expect(await seatsAvailable(t.db, flightId)).toBe(8);
    expect(refundCalls()).toBe(before);
  });

  it('after departure too', async () => {
    const { booking, client, flightId } = await paidBooking();
    await departsIn(t, flightId, -30);
    expect(await trpcError(client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() }))).toMatchObject({ appCode: 'REFUND_WINDOW_CLOSED' });
  });

  it('an admin may still refund after the cutoff, and the audit row names the admin', async () => {
    const { booking, flightId } = await paidBooking();
    await departsIn(t, flightId, 30);
    const admin = await createUser(t.db, { role: 'admin' });
    const refunded = await t.trpc(admin.accessToken).payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey(), reason: 'flight cancelled by airline' });
    expect(refunded.status).toBe('refund_pending');
    const [audit] = await t.db
      .select()
      .from(bookingTransitions)
      .where(and(eq(bookingTransitions.bookingId, booking.id), eq(bookingTransitions.toStatus, 'refund_pending')));
    expect(audit).toMatchObject({ actor: `admin:${admin.id}`, reason: expect.stringMatching(new RegExp(`after the refund window, by admin user:${admin.id}`)) });
  });

  it('a token that still says admin after a demotion does not open the window: the role is read from the database', async () => {
    const { booking, flightId, user } = await paidBooking();
    await departsIn(t, flightId, 30);
    // The owner was an admin when this token was signed and has been demoted since.
    const stale = signAccessToken(env, { id: user.id, role: 'admin' }).accessToken;
    expect(await trpcError(t.trpc(stale).payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() }))).toMatchObject({ appCode: 'REFUND_WINDOW_CLOSED' });
    expect((await bookingRow(t, booking.id)).status).toBe('confirmed');
  });
});

describe('sales close SALES_CUTOFF_MINUTES (60) before departure', () => {
  it('bookings.create refuses a flight departing within the cutoff with SALES_CLOSED, holding nothing', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10, departureInHours: 0.9 });
    const err = await trpcError(t.trpc(user.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() }));
    expect(err).toMatchObject({ code: 'PRECONDITION_FAILED', appCode: 'SALES_CLOSED' });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
  });

  it('bookings.create refuses once too little time is left to pay before sales close (Stripe pages last 30 minutes)', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10, departureInHours: 80 / 60 });
    expect(await trpcError(t.trpc(user.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() }))).toMatchObject({ appCode: 'SALES_CLOSED' });
    const open = await createFlight(t.db, { seats: 10, departureInHours: 95 / 60 });
    const booking = await t.trpc(user.accessToken).bookings.create.mutate({ flightId: open, passengers: passengers(1), idempotencyKey: newKey() });
    expect(booking.status).toBe('pending_payment');
  });

  it('createCheckoutSession refuses with SALES_CLOSED once the flight is inside the cutoff', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10 });
    const client = t.trpc(user.accessToken);
    const booking = await client.bookings.create.mutate({ flightId, passengers: passengers(2), idempotencyKey: newKey() });
    await departsIn(t, flightId, 59);
    const before = t.fakeStripe.requests.length;
    expect(await trpcError(client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() }))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      appCode: 'SALES_CLOSED',
    });
    expect(t.fakeStripe.requests.length).toBe(before);
  });

  it('the Checkout Session expires when sales close, never later, and the hold ends with it', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10 });
    const client = t.trpc(user.accessToken);
    const booking = await client.bookings.create.mutate({ flightId, passengers: passengers(2), idempotencyKey: newKey() });
    // A hold that would outlast the close of sales (a longer BOOKING_HOLD_MINUTES, a schedule change).
    await departsIn(t, flightId, 100);
    const [flight] = await t.db.select().from(flights).where(eq(flights.id, flightId));
    const salesClose = flight!.departureAt.getTime() - 60 * MINUTE;
    await t.db.update(bookings).set({ holdExpiresAt: new Date(salesClose + 20 * MINUTE) }).where(eq(bookings.id, booking.id));
    const session = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
    expect(new Date(session.expiresAt).getTime()).toBeLessThanOrEqual(salesClose);
    expect(new Date(session.expiresAt).getTime()).toBeGreaterThan(salesClose - 1000);
    expect(t.fakeStripe.sessions.get(session.sessionId)!.expires_at * 1000).toBeLessThanOrEqual(salesClose);
    expect((await bookingRow(t, booking.id)).holdExpiresAt!.getTime()).toBeLessThanOrEqual(salesClose);
  });
});
