import { describe, expect, it } from 'vitest';
import { eq, inArray } from 'drizzle-orm';
import { bookAndOpenCheckout, newKey, shuffle } from '../support/booking-flow.js';
import { createFlight } from '../support/flights.js';
import { bookings, financialLedger, outbox } from '../../server/db/schema/index.js';
import { inventoryViolations } from '../../server/services/inventory.js';
import { expireLapsedHolds } from '../../server/services/bookings.js';
import { eventually } from '../support/e2e.js';
import { chargeAt } from '../support/stripe-state.js';
import { useTestApp } from '../support/lifecycle.js';

// The worker's queues run in-process: refunds and session expiries go to Stripe as the jobs run.
const t = useTestApp({ workers: true });

/**
 * Everything at once on two small flights: travellers pay, cancel, ask for refunds; Stripe delivers
 * every event twice, shuffled and concurrently; support refunds from the dashboard; holds lapse. Then
 * the invariants that matter are checked against the database and against what Stripe holds.
 */
describe('a randomised mix of everything, concurrently', () => {
  it('keeps seats whole, books every movement of money exactly once, and agrees with Stripe', async () => {
    const flightIds = [await createFlight(t.db, { seats: 12 }), await createFlight(t.db, { seats: 9 })];
    let seed = Number(process.env.CHAOS_SEED ?? 20261126);
    const rand = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    const flows = (
      await Promise.allSettled(
        Array.from({ length: 14 }, (_, i) => bookAndOpenCheckout(t, { flightId: flightIds[i % 2]!, passengers: 1 + Math.floor(rand() * 2) })),
      )
    )
      .filter((r) => r.status === 'fulfilled')
      .map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof bookAndOpenCheckout>>>).value);
    expect(flows.length).toBeGreaterThan(6);

    // Round 1: some pay, some cancel at the same moment, some do both (the payment races the cancel).
    const events: any[] = [];
    await Promise.all(
      flows.map(async (f, i) => {
        const roll = rand();
        if (roll < 0.6 || i % 5 === 0) events.push(...t.fakeStripe.completeSession(f.sessionId));
        if (roll > 0.45) await f.client.bookings.cancel.mutate({ id: f.booking.id, idempotencyKey: newKey() }).catch(() => undefined);
      }),
    );
    const round1 = await Promise.all(shuffle([...events, ...events], 7).map((e) => t.fakeStripe.deliver(e)));
    expect(round1.every((r) => r.status === 200)).toBe(true);

    // Round 2: refunds asked by travellers and made in the dashboard, holds lapsing, the worker's relay.
    const more: any[] = [];
    const statuses = await t.db.select({ id: bookings.id, status: bookings.status, pi: bookings.stripePaymentIntentId }).from(bookings).where(inArray(bookings.id, flows.map((f) => f.booking.id)));
    await Promise.all([
      ...flows.map(async (f) => {
        const row = statuses.find((s) => s.id === f.booking.id)!;
        const roll = rand();
        if (row.status === 'confirmed' && roll < 0.4) await f.client.payments.requestRefund.mutate({ bookingId: f.booking.id, idempotencyKey: newKey() }).catch(() => undefined);
        else if (row.status === 'confirmed' && roll < 0.6 && row.pi) more.push(...t.fakeStripe.refundFromDashboard(row.pi, 5_000));
      }),
      expireLapsedHolds({ ...t.deps, clock: { now: () => new Date(Date.now() + 3 * 3600_000) } }),
    ]);
    // Every Stripe call recorded so far has run (the worker's Stripe queue).
    await eventually(async () => (await t.db.select({ status: outbox.status, topic: outbox.topic }).from(outbox)).every((r) => r.status !== 'pending' || !r.topic.startsWith('stripe_')), 30_000);
    const refundEvents = t.fakeStripe.events.filter((e) => e.type === 'charge.refunded' || e.type.startsWith('refund.'));
    const round2 = await Promise.all(shuffle([...refundEvents, ...refundEvents, ...more], 11).map((e) => t.fakeStripe.deliver(e)));
    expect(round2.every((r) => r.status === 200)).toBe(true);

    // Seats: whole on both flights.
    expect(await inventoryViolations(t.db, flightIds)).toEqual([]);

    // Money: per payment intent, exactly one charge, and charges - refunds = what Stripe holds.
    for (const pi of t.fakeStripe.paymentIntents.values()) {
      if (pi.status !== 'succeeded') continue;
      const entries = await t.db.select().from(financialLedger).where(eq(financialLedger.stripePaymentIntentId, pi.id));
      expect(entries.filter((e) => e.entryType === 'charge')).toHaveLength(1);
      const net = entries.reduce((s, e) => s + (e.entryType === 'refund' ? -e.amountMinor : e.amountMinor), 0);
      const charge = chargeAt(t.fakeStripe, pi.latest_charge);
      expect(net).toBe(pi.amount_received - charge.amount_refunded);
    }

    // Bookings: status, payment status, seats and money agree.
    const final = await t.db.select().from(bookings).where(inArray(bookings.id, flows.map((f) => f.booking.id)));
    for (const b of final) {
      const holds = ['pending_payment', 'confirmed'].includes(b.status);
      expect({ id: b.id, status: b.status, seatsHeld: b.seatsHeld }).toEqual({ id: b.id, status: b.status, seatsHeld: holds ? b.passengerCount : 0 });
      if (b.status === 'confirmed' || b.status === 'refund_pending') expect(b.stripePaymentIntentId).toMatch(/^pi_/);
      const pi = b.stripePaymentIntentId ? t.fakeStripe.paymentIntents.get(b.stripePaymentIntentId) : undefined;
      if (b.status === 'refunded') expect(chargeAt(t.fakeStripe, pi?.latest_charge).amount_refunded).toBe(pi?.amount_received);
      if (b.status === 'cancelled' || b.status === 'expired') expect(pi?.status === 'succeeded').toBe(false); // paid ones were confirmed or refunded
    }
  });
});
