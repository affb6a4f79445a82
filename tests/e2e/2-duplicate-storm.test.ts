import { describe, expect, it } from 'vitest';
import { and, count, eq } from 'drizzle-orm';
import { bookAndOpenCheckout, bookingRow, shuffle } from '../support/booking-flow.js';
import { bookingTransitions, financialLedger, outbox } from '../../server/db/schema/index.js';
import { useE2E } from '../support/lifecycle.js';

const e = useE2E();

describe('e2e 2: a storm of duplicates', () => {
  it("one payment's three events, each delivered five times, concurrently and shuffled: 200 everywhere, one charge, one confirmation", async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(e, { seats: 20, passengers: 1 });
    const events = e.fakeStripe.completeSession(sessionId);
    expect(events.map((x) => x.type).sort()).toEqual(['charge.succeeded', 'checkout.session.completed', 'payment_intent.succeeded']);

    const storm = shuffle(events.flatMap((x) => Array(5).fill(x)), 2026);
    const results = await Promise.all(storm.map((x) => e.fakeStripe.deliver(x)));
    expect(results.map((r) => r.status)).toEqual(Array(15).fill(200));

    expect((await bookingRow(e, booking.id)).status).toBe('confirmed');
    const [charges] = await e.db.select({ n: count() }).from(financialLedger).where(and(eq(financialLedger.bookingId, booking.id), eq(financialLedger.entryType, 'charge')));
    expect(charges!.n).toBe(1);
    const [toConfirmed] = await e.db.select({ n: count() }).from(bookingTransitions).where(and(eq(bookingTransitions.bookingId, booking.id), eq(bookingTransitions.toStatus, 'confirmed')));
    expect(toConfirmed!.n).toBe(1);
    const [jobs] = await e.db.select({ n: count() }).from(outbox).where(eq(outbox.dedupeKey, `send_booking_confirmation:booking:${booking.id}`));
    expect(jobs!.n).toBe(1);
  });
});
