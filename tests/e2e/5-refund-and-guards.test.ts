import { describe, expect, it } from 'vitest';
import { TRPCClientError } from '@trpc/client';
import { eq } from 'drizzle-orm';
import { eventually } from '../support/e2e.js';
import { createUser } from '../support/users.js';
import { createFlight } from '../support/flights.js';
import { bookings, financialLedger, flights } from '../../server/db/schema/index.js';
import { useE2E } from '../support/lifecycle.js';
import { total } from '../support/metrics.js';

// The refund request reaches Stripe through the worker's Stripe queue.
const e = useE2E({ worker: true });

describe('e2e 5: refund, and the guards around it', () => {
  it('refusing a pending booking, then refunding a confirmed one: refund_pending, one refund entry of the right amount, refunded, seats back on sale', async () => {
    const user = await createUser(e.db);
    const flightId = await createFlight(e.db, { seats: 10, priceMinor: 61_500 });
    const client = e.trpc(user.accessToken);
    const booking = await client.bookings.create.mutate({
      flightId,
      passengers: [{ firstName: 'Mona', lastName: 'Zahrani' }, { firstName: 'Sami', lastName: 'Zahrani' }],
      idempotencyKey: `refund-${user.id}`,
    });

    const early = await client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: `refund-early-${user.id}` }).catch((err: unknown) => err as TRPCClientError<any>);
    expect(early).toBeInstanceOf(TRPCClientError);
    expect((early as TRPCClientError<any>).data.appCode).toBe('INVALID_STATE_TRANSITION');
    expect((early as TRPCClientError<any>).message).toMatch(/pending_payment to refund_pending/);

    const { sessionId } = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: `refund-pay-${user.id}` });
    e.fakeStripe.setWebhookUrl(`${e.api.baseUrl}/webhooks/stripe`, true);
    e.fakeStripe.completeSession(sessionId);
    await e.fakeStripe.flush();
    await eventually(async () => (await e.db.select().from(bookings).where(eq(bookings.id, booking.id)))[0]?.status === 'confirmed');
    const [seatsWhileConfirmed] = await e.db.select().from(flights).where(eq(flights.id, flightId));
    expect(seatsWhileConfirmed!.seatsAvailable).toBe(8);

    // Hold back Stripe's refund events for a moment to see the intermediate state.
    e.fakeStripe.setWebhookUrl(`${e.api.baseUrl}/webhooks/stripe`, false);
    const pending = await client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: `refund-now-${user.id}`, reason: 'change of plans' });
    expect(pending.status).toBe('refund_pending');
    const chargeRefunded = await eventually(async () => e.fakeStripe.events.find((x) => x.type === 'charge.refunded'));
    const refundEvents = e.fakeStripe.events.filter((x) => x.type === 'charge.refunded' || x.type === 'refund.created');
    expect(chargeRefunded).toBeDefined();

    expect((await e.fakeStripe.deliver(chargeRefunded)).status).toBe(200);
    expect((await e.fakeStripe.deliver(chargeRefunded)).status).toBe(200); // redelivered
    for (const x of refundEvents) expect((await e.fakeStripe.deliver(x)).status).toBe(200);

    const refunds = (await e.db.select().from(financialLedger).where(eq(financialLedger.bookingId, booking.id))).filter((x) => x.entryType === 'refund');
    expect(refunds).toHaveLength(1);
    expect(refunds[0]!.amountMinor).toBe(123_000);
    const [row] = await e.db.select().from(bookings).where(eq(bookings.id, booking.id));
    expect(row).toMatchObject({ status: 'refunded', paymentStatus: 'refunded', seatsHeld: 0 });
    const [flight] = await e.db.select().from(flights).where(eq(flights.id, flightId));
    expect(flight!.seatsAvailable).toBe(10);
    expect(e.fakeStripe.refunds.size).toBe(1);

    // The API process counted the money back once, however often Stripe told it.
    const metrics = await (await fetch(`${e.api.baseUrl}/metrics`)).text();
    expect(total(metrics, 'ledger_entries_total', { kind: 'refund' })).toBe(1);
    expect(total(metrics, 'ledger_entries_total', { kind: 'charge' })).toBe(1);
    expect(total(metrics, 'booking_transitions_total', { from: 'confirmed', to: 'refund_pending' })).toBe(1);
    expect(total(metrics, 'booking_transitions_total', { from: 'refund_pending', to: 'refunded' })).toBe(1);
    expect(total(metrics, 'stripe_webhook_events_total', { type: 'charge.refunded', outcome: 'duplicate' })).toBeGreaterThanOrEqual(1);
    expect(total(metrics, 'stripe_webhook_events_total', { outcome: 'failed_retryable' })).toBe(0);
  });
});
