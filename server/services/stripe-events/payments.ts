import { and, eq, inArray } from 'drizzle-orm';
import type Stripe from 'stripe';
import { bookings, flights, payments } from '../../db/schema/index.js';
import { transition } from '../booking-state.js';
import { releaseBookingSeats, retakeBookingSeats } from '../inventory.js';
import { recordLedgerEntry } from '../ledger.js';
import { enqueueOutbox } from '../outbox.js';
import { flag, idOf, PermanentEventError, type BookingRow, type EventOf, type HandlerContext } from './context.js';
import { findBooking, findBookingOfSession, findPaymentBooking, findSessionBooking } from './ownership.js';
import { settleRefunds } from './refunds.js';

/**
 * Money coming in: Checkout Session, payment intent and charge events. payment_intent.succeeded,
 * charge.succeeded and checkout.session.completed of one payment each try to book the same
 * `charge:<payment_intent>` ledger entry and the same confirmation, and only the first does.
 */

/** Stripe's own expiry of a session lands at about its expires_at, which is the booking's hold. */
const HOLD_EXPIRY_TOLERANCE_MS = 60_000;

interface PaymentFacts {
  /** The Checkout Session paid, when the event tells (session events) or Stripe told us (prefetch). */
  sessionId: string | null;
  paymentIntentId: string;
  chargeId: string | null;
  amountMinor: number;
  currency: string;
}

export async function onSessionPaidOrPending(
  ctx: HandlerContext,
  event: EventOf<'checkout.session.completed' | 'checkout.session.async_payment_succeeded'>,
): Promise<'processed'> {
  const session = event.data.object;
  const booking = await findSessionBooking(ctx, session);
  const paymentIntentId = idOf(session.payment_intent);
  if (session.payment_status === 'paid' || session.payment_status === 'no_payment_required') {
    if (!paymentIntentId) throw new PermanentEventError(`paid session ${session.id} has no payment intent`);
    await onPaymentSucceeded(ctx, booking, {
      sessionId: session.id,
      paymentIntentId,
      chargeId: ctx.prefetched.chargeId ?? null,
      amountMinor: session.amount_total ?? -1,
      currency: session.currency ?? '',
    });
    return 'processed';
  }
  // Paid by a delayed method (bank debit): the money is not there yet; async_payment_* will say.
  if (booking.status === 'pending_payment' && booking.paymentStatus === 'unpaid') {
    await ctx.tx
      .update(bookings)
      .set({ paymentStatus: 'processing', ...(paymentIntentId && !booking.stripePaymentIntentId ? { stripePaymentIntentId: paymentIntentId } : {}) })
      .where(eq(bookings.id, booking.id));
    await ctx.tx
      .update(payments)
      .set({ status: 'processing', ...(paymentIntentId ? { stripePaymentIntentId: paymentIntentId } : {}) })
      .where(eq(payments.stripeCheckoutSessionId, session.id));
  }
  return 'processed';
}

export function onPaymentIntentSucceeded(ctx: HandlerContext, event: EventOf<'payment_intent.succeeded'>): Promise<'processed'> {
  return paymentIntentSucceeded(ctx, event.data.object);
}

/** A succeeded payment intent: from its event, or as Stripe reports it now (stripe-events/from-intent.ts). */
export async function paymentIntentSucceeded(ctx: HandlerContext, pi: Stripe.PaymentIntent): Promise<'processed'> {
  const booking = await findPaymentBooking(ctx, pi.metadata, pi.id);
  await onPaymentSucceeded(ctx, booking, {
    sessionId: ctx.prefetched.sessionId ?? null,
    paymentIntentId: pi.id,
    chargeId: idOf(pi.latest_charge),
    amountMinor: pi.amount_received || pi.amount,
    currency: pi.currency,
  });
  return 'processed';
}

export async function onChargeSucceeded(ctx: HandlerContext, event: EventOf<'charge.succeeded'>): Promise<'processed' | 'ignored'> {
  const charge = event.data.object;
  const paymentIntentId = idOf(charge.payment_intent);
  if (!paymentIntentId) return 'ignored'; // not a Checkout payment
  const booking = await findPaymentBooking(ctx, charge.metadata, paymentIntentId);
  await onPaymentSucceeded(ctx, booking, {
    sessionId: ctx.prefetched.sessionId ?? null,
    paymentIntentId,
    chargeId: charge.id,
    amountMinor: charge.amount_captured || charge.amount,
    currency: charge.currency,
  });
  return 'processed';
}

/**
 * Money arrived. Book it in the ledger (once per payment intent), then move the booking:
 * pending_payment -> confirmed; a late payment on a failed/expired booking -> confirmed if its seats
 * can be taken again, else refund_pending with an automatic refund; on a cancelled booking it is
 * always refunded (the traveller said no). A payment that does not match the booking is refunded. Money for a booking we
 * cannot honour is refunded, never kept and never lost.
 */
async function onPaymentSucceeded(ctx: HandlerContext, booking: BookingRow, p: PaymentFacts) {
  const matches = p.currency.toUpperCase() === booking.currency && p.amountMinor === booking.totalMinor;
  if (!matches && !(Number.isSafeInteger(p.amountMinor) && p.amountMinor > 0 && /^[A-Za-z]{3}$/.test(p.currency))) {
    // Not even an amount we could book and give back: a human looks at it.
    throw new PermanentEventError(`payment ${p.paymentIntentId} reports no usable amount (${p.amountMinor} ${p.currency}) for booking ${booking.id}`);
  }
  await recordLedgerEntry(ctx.tx, 'charge', {
    bookingId: booking.id,
    userId: booking.userId,
    amountMinor: p.amountMinor,
    currency: p.currency,
    paymentIntentId: p.paymentIntentId,
    chargeId: p.chargeId,
    eventId: ctx.eventId,
  });
  // The payments row of the session that was paid (by session when known, else by payment intent).
  await ctx.tx
    .update(payments)
    .set({ status: 'succeeded', stripePaymentIntentId: p.paymentIntentId })
    .where(and(eq(payments.bookingId, booking.id), p.sessionId ? eq(payments.stripeCheckoutSessionId, p.sessionId) : eq(payments.stripePaymentIntentId, p.paymentIntentId)));

  if (!matches) {
    await refundMismatchedPayment(ctx, booking, p);
    return;
  }

  if (booking.stripePaymentIntentId && booking.stripePaymentIntentId !== p.paymentIntentId && booking.status !== 'pending_payment') {
    // A second, different payment for one booking (two sessions both paid): give that money back.
    await enqueueOutbox(ctx.tx, 'stripe_refund', `payment_intent:${p.paymentIntentId}`, {
      bookingId: booking.id,
      paymentIntentId: p.paymentIntentId,
      reason: 'duplicate payment',
      idempotencySuffix: p.paymentIntentId,
    }, ctx.now);
    await flag(ctx, booking.id, `duplicate payment ${p.paymentIntentId} refunded automatically`);
    return;
  }

  await applyPayment(ctx, booking, p.paymentIntentId);
  // Refund events may have been handled before this payment's events (Stripe retries them for days):
  // settle against the refunds already booked, with the booking as it now stands.
  const [current] = await ctx.tx.select().from(bookings).where(eq(bookings.id, booking.id));
  if (current) await settleRefunds(ctx, current, p.paymentIntentId);
}

/**
 * Money we cannot honour: its amount or currency is not the booking's (a changed price, a presentment
 * currency). It is booked as the charge it was, refunded in full through the outbox like a duplicate
 * payment, and the booking is flagged and never confirmed by it. An unpaid booking fails at once, seats
 * back on sale: a new page would only take the same wrong amount again.
 */
async function refundMismatchedPayment(ctx: HandlerContext, booking: BookingRow, p: PaymentFacts) {
  await enqueueOutbox(ctx.tx, 'stripe_refund', `payment_intent:${p.paymentIntentId}`, {
    bookingId: booking.id,
    paymentIntentId: p.paymentIntentId,
    reason: 'payment does not match the booking',
    idempotencySuffix: p.paymentIntentId,
  }, ctx.now);
  await flag(
    ctx,
    booking.id,
    `payment ${p.paymentIntentId} of ${p.amountMinor} ${p.currency.toUpperCase()} does not match the booking (${booking.totalMinor} ${booking.currency}); refunded automatically`,
  );
  const itsOwnDelayedPayment = booking.paymentStatus === 'processing' && booking.stripePaymentIntentId === p.paymentIntentId;
  if (booking.status === 'pending_payment' && (booking.paymentStatus !== 'processing' || itsOwnDelayedPayment)) {
    await failBooking(ctx, booking, 'payment did not match the booking; refunded automatically');
  }
}

async function applyPayment(ctx: HandlerContext, booking: BookingRow, paymentIntentId: string) {
  const paid = { paymentStatus: 'paid' as const, stripePaymentIntentId: paymentIntentId, holdExpiresAt: null };
  const refund = (reason: string) =>
    enqueueOutbox(ctx.tx, 'stripe_refund', `booking:${booking.id}`, { bookingId: booking.id, paymentIntentId, reason }, ctx.now);
  switch (booking.status) {
    case 'pending_payment':
      if (await flightDeparted(ctx, booking.flightId)) {
        // Paid after departure (a page opened just before it): nothing to confirm, the money goes back.
        // Through the table: the hold ends (expired), then the late payment is refunded.
        await transition(ctx.tx, { bookingId: booking.id, from: 'pending_payment', to: 'expired', reason: 'flight departed before the payment arrived', actor: ctx.actor, set: { holdExpiresAt: null } });
        await releaseBookingSeats(ctx.tx, booking);
        await transition(ctx.tx, { bookingId: booking.id, from: 'expired', to: 'refund_pending', reason: 'late payment, flight departed; refunding', actor: ctx.actor, set: paid });
        await refund('late payment, flight departed');
        return;
      }
      await transition(ctx.tx, { bookingId: booking.id, from: booking.status, to: 'confirmed', reason: 'payment received', actor: ctx.actor, set: paid });
      await enqueueOutbox(ctx.tx, 'send_booking_confirmation', `booking:${booking.id}`, { bookingId: booking.id }, ctx.now);
      return;
    case 'cancelled':
      // The traveller said no: a payment that arrives afterwards goes back, whatever seats remain.
      await transition(ctx.tx, { bookingId: booking.id, from: 'cancelled', to: 'refund_pending', reason: 'late payment after cancelled; the traveller cancelled, refunding', actor: ctx.actor, set: paid });
      await refund('late payment after the booking was cancelled');
      return;
    case 'failed':
    case 'expired': {
      const departed = await flightDeparted(ctx, booking.flightId);
      if (!departed && (await retakeBookingSeats(ctx.tx, booking))) {
        await transition(ctx.tx, { bookingId: booking.id, from: booking.status, to: 'confirmed', reason: `late payment after ${booking.status}; seats taken again`, actor: ctx.actor, set: paid });
        await enqueueOutbox(ctx.tx, 'send_booking_confirmation', `booking:${booking.id}`, { bookingId: booking.id }, ctx.now);
      } else {
        const why = departed ? 'flight departed' : 'no seats left';
        await transition(ctx.tx, { bookingId: booking.id, from: booking.status, to: 'refund_pending', reason: `late payment after ${booking.status}; ${why}, refunding`, actor: ctx.actor, set: paid });
        await refund(`late payment, ${why}`);
      }
      return;
    }
    default:
      // confirmed / refund_pending / refunded: another event of a payment already handled.
      return;
  }
}

async function flightDeparted(ctx: HandlerContext, flightId: number): Promise<boolean> {
  const [flight] = await ctx.tx.select({ departureAt: flights.departureAt }).from(flights).where(eq(flights.id, flightId));
  return !flight || flight.departureAt <= ctx.now;
}

export async function onSessionPaymentFailed(ctx: HandlerContext, event: EventOf<'checkout.session.async_payment_failed'>): Promise<'processed'> {
  const session = event.data.object;
  // Changes the booking only if this session is its current one, so no ownership check is needed.
  const booking = await findBookingOfSession(ctx, session);
  await ctx.tx.update(payments).set({ status: 'failed' }).where(eq(payments.stripeCheckoutSessionId, session.id));
  if (booking.status === 'pending_payment' && booking.stripeCheckoutSessionId === session.id) await failBooking(ctx, booking, 'delayed payment failed');
  return 'processed';
}

export function onPaymentIntentFailed(ctx: HandlerContext, event: EventOf<'payment_intent.payment_failed'>): Promise<'processed'> {
  return paymentIntentFailed(ctx, event.data.object, 'payment failed');
}

/** A failed (or canceled) payment intent: from its event, or as Stripe reports it now (stripe-events/from-intent.ts). */
export async function paymentIntentFailed(ctx: HandlerContext, pi: Stripe.PaymentIntent, reason: string): Promise<'processed'> {
  // Changes the booking only if this is its current payment intent, so no ownership check is needed.
  const booking = await findBooking(ctx, { metadata: pi.metadata, paymentIntentId: pi.id });
  // A declined card inside an open Checkout page is not the end: the traveller can try another card
  // until the session expires. Only a delayed payment that was already under way fails the booking.
  if (booking.status === 'pending_payment' && booking.paymentStatus === 'processing' && booking.stripePaymentIntentId === pi.id) {
    await failBooking(ctx, booking, reason);
  }
  return 'processed';
}

async function failBooking(ctx: HandlerContext, booking: BookingRow, reason: string) {
  await transition(ctx.tx, { bookingId: booking.id, from: booking.status, to: 'failed', reason, actor: ctx.actor, set: { paymentStatus: 'failed', holdExpiresAt: null } });
  await releaseBookingSeats(ctx.tx, booking);
}

export async function onSessionExpired(ctx: HandlerContext, event: EventOf<'checkout.session.expired'>): Promise<'processed'> {
  const session = event.data.object;
  // Changes the booking only if this session is its current one; an orphaned session we expired
  // ourselves (never recorded) is simply over.
  const booking = await findBookingOfSession(ctx, session);
  await ctx.tx.update(payments).set({ status: 'expired' }).where(and(eq(payments.stripeCheckoutSessionId, session.id), inArray(payments.status, ['open', 'processing'])));
  // Expires the booking only when its hold has run out as well. A session closed early (we expire the
  // old page before opening a replacement; a hold longer than the page) leaves the seats held until the
  // hold lapses, and the hold-expiry job ends the booking then.
  const holdOver = !booking.holdExpiresAt || booking.holdExpiresAt.getTime() <= ctx.now.getTime() + HOLD_EXPIRY_TOLERANCE_MS;
  if (booking.status === 'pending_payment' && booking.stripeCheckoutSessionId === session.id && booking.paymentStatus !== 'processing' && holdOver) {
    await transition(ctx.tx, { bookingId: booking.id, from: booking.status, to: 'expired', reason: 'checkout session expired', actor: ctx.actor, set: { holdExpiresAt: null } });
    await releaseBookingSeats(ctx.tx, booking);
  }
  return 'processed';
}
