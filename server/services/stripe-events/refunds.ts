import { and, count, eq, like } from 'drizzle-orm';
import type Stripe from 'stripe';
import { bookings, outbox } from '../../db/schema/index.js';
import { transition } from '../booking-state.js';
import { releaseBookingSeats } from '../inventory.js';
import { paymentIntentBalance, recordLedgerEntry } from '../ledger.js';
import { enqueueOutbox } from '../outbox.js';
import { flag, idOf, type BookingRow, type EventOf, type HandlerContext } from './context.js';
import { findPaymentBooking } from './ownership.js';

/** Money going back: charge.refunded and refund.* events, whoever asked for the refund. */

/** Automatic re-requests of a failed refund before a human is asked to refund by hand. */
const MAX_REFUND_RETRIES = 3;

export async function onChargeRefunded(ctx: HandlerContext, event: EventOf<'charge.refunded'>): Promise<'processed' | 'ignored'> {
  const charge = event.data.object;
  const paymentIntentId = idOf(charge.payment_intent);
  if (!paymentIntentId) return 'ignored';
  const booking = await findPaymentBooking(ctx, charge.metadata, paymentIntentId);
  const refunds = ctx.prefetched.refunds ?? charge.refunds?.data ?? [];
  for (const refund of refunds) await onRefund(ctx, booking, refund);
  await settleRefunds(ctx, booking, paymentIntentId);
  return 'processed';
}

export async function onRefundEvent(ctx: HandlerContext, event: EventOf<'refund.created' | 'refund.updated'>): Promise<'processed' | 'ignored'> {
  const refund = event.data.object;
  const paymentIntentId = idOf(refund.payment_intent);
  if (!paymentIntentId) return 'ignored';
  const booking = await findPaymentBooking(ctx, refund.metadata, paymentIntentId);
  await onRefund(ctx, booking, refund);
  await settleRefunds(ctx, booking, paymentIntentId);
  return 'processed';
}

/**
 * One ledger entry per Stripe refund, with that refund's own amount (charge.refunded carries the
 * cumulative amount_refunded, which must never be booked). A refund Stripe later reports failed gets a
 * reversing entry, the booking is flagged, and the refund is requested again.
 */
async function onRefund(ctx: HandlerContext, booking: BookingRow, refund: Stripe.Refund) {
  const paymentIntentId = idOf(refund.payment_intent);
  if (!paymentIntentId) return;
  const entry = {
    bookingId: booking.id,
    userId: booking.userId,
    amountMinor: refund.amount,
    currency: refund.currency,
    paymentIntentId,
    chargeId: idOf(refund.charge),
    refundId: refund.id,
    eventId: ctx.eventId,
  };
  if (refund.status === 'succeeded' || refund.status === 'pending' || refund.status === 'requires_action') {
    await recordLedgerEntry(ctx.tx, 'refund', entry);
    return;
  }
  if (refund.status === 'failed' || refund.status === 'canceled') {
    // Book the refund first if this is the first we hear of it, so the reversal always has a partner.
    await recordLedgerEntry(ctx.tx, 'refund', entry);
    const reversed = await recordLedgerEntry(ctx.tx, 'refund_reversal', entry);
    if (!reversed) return; // this failure was handled before
    await flag(ctx, booking.id, `refund ${refund.id} ${refund.status}${refund.failure_reason ? `: ${refund.failure_reason}` : ''}`);
    // Only a refund WE asked for (its metadata names the booking) that FAILED is asked for again, and
    // for exactly its own amount; a refund someone canceled on purpose, or a partial refund made in the
    // dashboard, is left to them (flagged). After three failed attempts a human takes over.
    if (refund.status === 'failed' && refund.metadata?.bookingId === String(booking.id)) {
      const [retries] = await ctx.tx
        .select({ n: count() })
        .from(outbox)
        .where(and(eq(outbox.topic, 'stripe_refund'), like(outbox.dedupeKey, `stripe_refund:booking:${booking.id}:after:%`)));
      if ((retries?.n ?? 0) >= MAX_REFUND_RETRIES) {
        await flag(ctx, booking.id, `refund failed ${MAX_REFUND_RETRIES + 1} times; refund it by hand`);
        return;
      }
      await enqueueOutbox(ctx.tx, 'stripe_refund', `booking:${booking.id}:after:${refund.id}`, {
        bookingId: booking.id,
        paymentIntentId,
        amountMinor: refund.amount,
        reason: `retry after failed refund ${refund.id}`,
        idempotencySuffix: refund.id,
      }, ctx.now);
    }
  }
}

/**
 * Moves the booking once refunds reach what was charged; a partial refund only marks it. A refunded
 * booking whose refund later failed stays refunded (the state is final: the traveller gave the seats
 * up); the money owed is flagged and re-requested by onRefund, and payment_status says we hold it.
 */
export async function settleRefunds(ctx: HandlerContext, booking: BookingRow, paymentIntentId: string) {
  if (booking.stripePaymentIntentId !== paymentIntentId) return; // a duplicate payment's refund
  const balance = await paymentIntentBalance(ctx.tx, paymentIntentId);
  if (balance.chargedMinor === 0) return;
  const fullyRefunded = balance.refundedMinor >= balance.chargedMinor;
  if (fullyRefunded && (booking.status === 'confirmed' || booking.status === 'refund_pending')) {
    await transition(ctx.tx, {
      bookingId: booking.id,
      from: booking.status,
      to: 'refunded',
      reason: booking.status === 'confirmed' ? 'refunded outside the app (Stripe dashboard)' : 'refund completed',
      actor: ctx.actor,
      set: { paymentStatus: 'refunded' },
    });
    await releaseBookingSeats(ctx.tx, booking);
    return;
  }
  // payment_status tells where the money is, whatever the booking's status.
  const paymentStatus = fullyRefunded ? 'refunded' : balance.refundedMinor > 0 ? 'partially_refunded' : 'paid';
  if (booking.paymentStatus !== paymentStatus) await ctx.tx.update(bookings).set({ paymentStatus }).where(eq(bookings.id, booking.id));
}
