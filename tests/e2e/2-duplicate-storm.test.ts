import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, count, eq } from 'drizzle-orm';
import { trpcClient } from '../support/harness.js';
import { startE2E, type E2EContext } from '../support/e2e.js';
import { createUser } from '../support/users.js';
import { createFlight } from '../support/flights.js';
import { shuffle } from '../support/booking-flow.js';
import { bookings, bookingTransitions, financialLedger, outbox } from '../../server/db/schema/index.js';

let e: E2EContext;
beforeAll(async () => {
  e = await startE2E();
});
afterAll(() => e?.close());

describe('e2e 2: a storm of duplicates', () => {
  it("one payment's three events, each delivered five times, concurrently and shuffled: 200 everywhere, one charge, one confirmation", async () => {
    const user = await createUser(e.db);
    const flightId = await createFlight(e.db, { seats: 20 });
    const client = trpcClient(e.api.baseUrl, user.accessToken);
    const booking = await client.bookings.create.mutate({ flightId, passengers: [{ firstName: 'Omar', lastName: 'Khalid' }], idempotencyKey: `storm-booking-${user.id}` });
    const { sessionId } = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: `storm-payment-${user.id}` });
    const events = e.fakeStripe.completeSession(sessionId);
    expect(events.map((x) => x.type).sort()).toEqual(['charge.succeeded', 'checkout.session.completed', 'payment_intent.succeeded']);

    const storm = shuffle(events.flatMap((x) => Array(5).fill(x)), 2026);
    const results = await Promise.all(storm.map((x) => e.fakeStripe.deliver(x)));
    expect(results.map((r) => r.status)).toEqual(Array(15).fill(200));

    const [row] = await e.db.select().from(bookings).where(eq(bookings.id, booking.id));
    expect(row!.status).toBe('confirmed');
    const [charges] = await e.db.select({ n: count() }).from(financialLedger).where(and(eq(financialLedger.bookingId, booking.id), eq(financialLedger.entryType, 'charge')));
    expect(charges!.n).toBe(1);
    const [toConfirmed] = await e.db.select({ n: count() }).from(bookingTransitions).where(and(eq(bookingTransitions.bookingId, booking.id), eq(bookingTransitions.toStatus, 'confirmed')));
    expect(toConfirmed!.n).toBe(1);
    const [jobs] = await e.db.select({ n: count() }).from(outbox).where(eq(outbox.dedupeKey, `send_booking_confirmation:booking:${booking.id}`));
    expect(jobs!.n).toBe(1);
  });
});
