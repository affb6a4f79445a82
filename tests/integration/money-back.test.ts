import { describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { bookAndOpenCheckout, bookingRow, eventRow, ledgerFor, newKey, shuffle } from '../support/booking-flow.js';
import { seatsAvailable } from '../support/flights.js';
import { bookings, outbox } from '../../server/db/schema/index.js';
import { outboxRowWhen } from '../support/jobs.js';
import { inventoryViolations } from '../../server/services/inventory.js';
import { paymentIntentIdOf, sessionAt } from '../support/stripe-state.js';
import { useTestApp } from '../support/lifecycle.js';

/** Money we cannot honour goes back by itself: payments that do not match, payments after a cancel. */
// The worker's queues run in-process: the refund jobs reach Stripe as they would in production.
const t = useTestApp({ workers: true });

const confirmationJobs = (bookingId: number) =>
  t.db.select().from(outbox).where(and(eq(outbox.topic, 'send_booking_confirmation'), eq(outbox.dedupeKey, `send_booking_confirmation:booking:${bookingId}`)));

/** Waits for the refund job recorded under `dedupeKey` to run, and delivers the refund events Stripe emitted for it. */
async function refundThroughOutbox(dedupeKey: string) {
  const job = await outboxRowWhen(t.db, dedupeKey, (r) => r.status === 'dispatched');
  expect(job.topic).toBe('stripe_refund');
  const pi = (job.payload as { paymentIntentId: string }).paymentIntentId;
  const refundEvents = t.fakeStripe.events.filter(
    (e) => (e.type === 'charge.refunded' || e.type.startsWith('refund.')) && (e.data.object as { payment_intent?: unknown }).payment_intent === pi,
  );
  expect(refundEvents.length).toBeGreaterThan(0);
  for (const e of refundEvents) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
}

describe('a payment whose amount or currency does not match the booking', () => {
  it('is booked as a charge, refunded in full, the booking flagged and failed, never confirmed', async () => {
    const { booking, sessionId, flightId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 2, priceMinor: 45_000 });
    // The booking's total changed after its page opened: Stripe takes the page's 90 000, the booking says 80 000.
    await t.db.update(bookings).set({ totalMinor: 80_000 }).where(eq(bookings.id, booking.id));
    const paid = t.fakeStripe.completeSession(sessionId);
    for (const e of shuffle([...paid, ...paid])) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    for (const e of paid) expect(await eventRow(t, e.id)).toMatchObject({ processed: true, needsAttention: false });

    const pi = paymentIntentIdOf(t.fakeStripe, sessionId);
    expect(await bookingRow(t, booking.id)).toMatchObject({
      status: 'failed',
      seatsHeld: 0,
      needsAttention: true,
      attentionReason: expect.stringMatching(/does not match the booking .*refunded automatically/),
    });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
    expect(await confirmationJobs(booking.id)).toHaveLength(0);
    expect(await ledgerFor(t, booking.id)).toMatchObject([{ entryType: 'charge', amountMinor: 90_000, currency: 'SAR', stripePaymentIntentId: pi }]);

    await refundThroughOutbox(`stripe_refund:payment_intent:${pi}`);
    const refunds = [...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === pi);
    expect(refunds.map((r) => r.amount)).toEqual([90_000]);
    expect((await ledgerFor(t, booking.id)).map((e) => [e.entryType, e.amountMinor])).toEqual([
      ['charge', 90_000],
      ['refund', 90_000],
    ]);
    expect((await bookingRow(t, booking.id)).status).toBe('failed');
    expect(await inventoryViolations(t.db, [flightId])).toEqual([]);
  });

  it('a currency other than the booking one is refunded the same way', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t, { passengers: 1 });
    await t.db.update(bookings).set({ currency: 'USD' }).where(eq(bookings.id, booking.id));
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(sessionId));
    const pi = paymentIntentIdOf(t.fakeStripe, sessionId);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'failed', needsAttention: true });
    expect(await ledgerFor(t, booking.id)).toMatchObject([{ entryType: 'charge', currency: 'SAR' }]);
    expect(await t.db.select().from(outbox).where(eq(outbox.dedupeKey, `stripe_refund:payment_intent:${pi}`))).toHaveLength(1);
  });
});

describe('a payment that arrives after the traveller cancelled', () => {
  it('is refunded, not honoured, even though the seats are still there', async () => {
    const { booking, client, sessionId, flightId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 2 });
    const paid = t.fakeStripe.completeSession(sessionId);
    await client.bookings.cancel.mutate({ id: booking.id, idempotencyKey: newKey() });
    for (const e of paid) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'refund_pending', paymentStatus: 'paid', seatsHeld: 0 });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
    expect(await confirmationJobs(booking.id)).toHaveLength(0);
    await refundThroughOutbox(`stripe_refund:booking:${booking.id}`);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'refunded', paymentStatus: 'refunded' });
    expect((await ledgerFor(t, booking.id)).map((e) => e.entryType)).toEqual(['charge', 'refund']);
  });
});

describe('Checkout Sessions are opened with Adaptive Pricing off', () => {
  it('asks Stripe for adaptive_pricing[enabled]=false, so the customer pays in the booking currency', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    const create = t.fakeStripe.requests.find((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions' && r.body.client_reference_id === String(booking.id));
    expect(create?.body.adaptive_pricing).toEqual({ enabled: 'false' });
    expect(sessionAt(t.fakeStripe, sessionId).adaptive_pricing).toEqual({ enabled: false });
  });
});
