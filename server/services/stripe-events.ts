import { and, count, eq, inArray, like, or, sql } from 'drizzle-orm';
import type Stripe from 'stripe';
import type { Db, Tx } from '../db/types.js';
import { bookings, flights, outbox, payments, stripeEvents } from '../db/schema/index.js';
import { logger } from '../lib/logger.js';
import { isTransientDbError } from '../lib/errors.js';
import { isTransientStripeError } from '../lib/stripe.js';
import { captureException } from '../lib/sentry.js';
import { lockBooking, transition } from './booking-state.js';
import { releaseBookingSeats, retakeBookingSeats } from './inventory.js';
import { paymentIntentBalance, recordLedgerEntry } from './ledger.js';
import { enqueueOutbox } from './outbox.js';

/**
 * Stripe events, processed exactly once.
 *
 * Every verified event is stored first (INSERT IGNORE on its id). Processing then runs in ONE
 * transaction that starts by locking the event's row (SELECT ... FOR UPDATE): concurrent deliveries of
 * the same event queue behind that lock, and whoever gets it after a successful commit sees
 * processed = true and does nothing. The handler's changes and processed = true commit together; a
 * failure rolls all of it back, and a separate statement then records the error and bumps retry_count.
 *
 * Handlers are keyed by the money movement, not by the event: payment_intent.succeeded,
 * charge.succeeded and checkout.session.completed of one payment each try to book the same
 * `charge:<payment_intent>` ledger entry and the same confirmation, and only the first does.
 */

/** A failure no retry can cure (no such booking, amount mismatch): flagged, answered 200. */
export class PermanentEventError extends Error {
  override readonly name = 'PermanentEventError';
}

export type EventOutcome = 'processed' | 'duplicate' | 'ignored' | 'flagged' | 'failed';

interface HandlerContext {
  tx: Tx;
  event: Stripe.Event;
  actor: string;
  /** Read from Stripe BEFORE the transaction opened (no network call ever runs inside it). */
  prefetched: { refunds?: Stripe.Refund[]; chargeId?: string | null; sessionId?: string | null };
}

/** Stripe's own expiry of a session lands at about its expires_at, which is the booking's hold. */
const HOLD_EXPIRY_TOLERANCE_MS = 60_000;

/** Automatic re-requests of a failed refund before a human is asked to refund by hand. */
const MAX_REFUND_RETRIES = 3;

/** Retries of an unexplained failure after which the event is flagged for a human (it still gets 500). */
const FLAG_AFTER_RETRIES = 3;

type BookingRow = typeof bookings.$inferSelect;

export async function handleStripeEvent(deps: { db: Db; stripe: Stripe }, event: Stripe.Event): Promise<EventOutcome> {
  const log = logger.child({ stripeEventId: event.id, stripeEventType: event.type });
  await deps.db
    .insert(stripeEvents)
    .ignore()
    .values({
      id: event.id,
      type: event.type,
      apiVersion: event.api_version ?? null,
      stripeCreatedAt: new Date(event.created * 1000),
      payload: event as unknown as object,
    });

  // Cheap early answer for a redelivery, before any call to Stripe: an event processed before is
  // 200 whether or not Stripe can be reached right now. (The authoritative check is under the lock.)
  const [seen] = await deps.db.select({ processed: stripeEvents.processed }).from(stripeEvents).where(eq(stripeEvents.id, event.id));
  if (seen?.processed) {
    log.info({ outcome: 'duplicate' }, 'stripe event handled');
    return 'duplicate';
  }

  try {
    const prefetched = await prefetch(deps, event);
    const outcome = await deps.db.transaction(async (tx) => {
      const [row] = await tx
        .select({ processed: stripeEvents.processed })
        .from(stripeEvents)
        .where(eq(stripeEvents.id, event.id))
        .for('update');
      if (!row) throw new Error(`stripe event ${event.id} vanished after insert`);
      if (row.processed) return 'duplicate' as const;
      const handled = await dispatch({ tx, event, actor: `stripe:${event.id}`, prefetched });
      await tx.update(stripeEvents).set({ processed: true, processedAt: new Date(), lastError: null }).where(eq(stripeEvents.id, event.id));
      return handled ? ('processed' as const) : ('ignored' as const);
    });
    log.info({ outcome }, 'stripe event handled');
    return outcome;
  } catch (err) {
    const permanent = err instanceof PermanentEventError;
    const message = rootCauseMessage(err).slice(0, 2000);
    // Outside the rolled-back transaction, so the failure itself is never lost.
    const [row] = await deps.db
      .select({ retryCount: stripeEvents.retryCount })
      .from(stripeEvents)
      .where(eq(stripeEvents.id, event.id))
      .catch(() => [undefined]);
    const retries = (row?.retryCount ?? 0) + 1;
    // An unexplained (not transient) failure keeps answering 500, since a fix deployed later can cure
    // it while Stripe still retries; past a few retries a human is asked to look.
    const needsAttention = permanent || (!isTransient(err) && retries >= FLAG_AFTER_RETRIES);
    await deps.db
      .update(stripeEvents)
      .set({ retryCount: sql`${stripeEvents.retryCount} + 1`, lastError: message, ...(needsAttention ? { needsAttention: true } : {}) })
      .where(and(eq(stripeEvents.id, event.id), eq(stripeEvents.processed, false)))
      .catch((e: unknown) => log.error({ err: e }, 'could not record the failure of a stripe event'));
    if (permanent) {
      log.error({ err }, 'stripe event cannot be processed; flagged for attention');
      captureException(err, { stripeEventId: event.id, type: event.type });
      return 'flagged';
    }
    if (isTransient(err)) log.warn({ err, retries }, 'stripe event processing failed; Stripe will retry');
    else {
      log.error({ err, retries }, 'stripe event processing failed unexpectedly; Stripe will retry');
      captureException(err, { stripeEventId: event.id, type: event.type });
    }
    return 'failed';
  }
}

function isTransient(err: unknown): boolean {
  return isTransientDbError(err) || isTransientStripeError(err);
}

async function dispatch(ctx: HandlerContext): Promise<boolean> {
  const object = ctx.event.data.object as unknown;
  switch (ctx.event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
      await onSessionPaidOrPending(ctx, object as Stripe.Checkout.Session);
      return true;
    case 'checkout.session.async_payment_failed':
      await onSessionPaymentFailed(ctx, object as Stripe.Checkout.Session);
      return true;
    case 'checkout.session.expired':
      await onSessionExpired(ctx, object as Stripe.Checkout.Session);
      return true;
    case 'payment_intent.succeeded': {
      const pi = object as Stripe.PaymentIntent;
      const booking = await findPaymentBooking(ctx, pi.metadata, pi.id);
      await onPaymentSucceeded(ctx, booking, {
        sessionId: ctx.prefetched.sessionId ?? null,
        paymentIntentId: pi.id,
        chargeId: idOf(pi.latest_charge),
        amountMinor: pi.amount_received || pi.amount,
        currency: pi.currency,
      });
      return true;
    }
    case 'charge.succeeded': {
      const charge = object as Stripe.Charge;
      const paymentIntentId = idOf(charge.payment_intent);
      if (!paymentIntentId) return false; // not a Checkout payment
      const booking = await findPaymentBooking(ctx, charge.metadata, paymentIntentId);
      await onPaymentSucceeded(ctx, booking, {
        sessionId: ctx.prefetched.sessionId ?? null,
        paymentIntentId,
        chargeId: charge.id,
        amountMinor: charge.amount_captured || charge.amount,
        currency: charge.currency,
      });
      return true;
    }
    case 'payment_intent.payment_failed':
      await onPaymentIntentFailed(ctx, object as Stripe.PaymentIntent);
      return true;
    case 'charge.refunded': {
      const charge = object as Stripe.Charge;
      const paymentIntentId = idOf(charge.payment_intent);
      if (!paymentIntentId) return false;
      const booking = await findPaymentBooking(ctx, charge.metadata, paymentIntentId);
      const refunds = ctx.prefetched.refunds ?? charge.refunds?.data ?? [];
      for (const refund of refunds) await onRefund(ctx, booking, refund);
      await settleRefunds(ctx, booking, paymentIntentId);
      return true;
    }
    case 'refund.created':
    case 'refund.updated': {
      const refund = object as Stripe.Refund;
      const paymentIntentId = idOf(refund.payment_intent);
      if (!paymentIntentId) return false;
      const booking = await findPaymentBooking(ctx, refund.metadata, paymentIntentId);
      await onRefund(ctx, booking, refund);
      await settleRefunds(ctx, booking, paymentIntentId);
      return true;
    }
    default:
      return false;
  }
}

// ------------------------------------------------------------------------------------------ lookups

/** drizzle wraps driver errors in "Failed query: <sql> params: ..."; the cause says what went wrong. */
function rootCauseMessage(err: unknown): string {
  let cur: unknown = err;
  while (cur instanceof Error && cur.cause instanceof Error) cur = cur.cause;
  const code = (cur as { code?: unknown })?.code;
  const text = cur instanceof Error ? cur.message : String(cur);
  return typeof code === 'string' ? `${code}: ${text}` : text;
}

function idOf(ref: string | { id: string } | null | undefined): string | null {
  if (!ref) return null;
  return typeof ref === 'string' ? ref : ref.id;
}

/**
 * The booking an event is about, locked for the rest of the transaction. The bookingId we put in the
 * session's and the payment intent's metadata comes first; a refund made in the dashboard carries no
 * metadata, so the payment intent or session id we recorded is the fallback.
 */
async function findBooking(
  ctx: HandlerContext,
  ref: { metadata?: Stripe.Metadata | null; clientReferenceId?: string | null; paymentIntentId?: string | null; sessionId?: string | null },
): Promise<BookingRow> {
  const raw = ref.metadata?.bookingId ?? ref.clientReferenceId ?? null;
  let bookingId: number | null = null;
  if (raw !== null) {
    if (!/^\d{1,15}$/.test(raw)) throw new PermanentEventError(`metadata.bookingId "${raw.slice(0, 40)}" is not a booking id`);
    bookingId = Number(raw);
  } else if (ref.paymentIntentId || ref.sessionId) {
    const [row] = await ctx.tx
      .select({ id: bookings.id })
      .from(bookings)
      .where(ref.paymentIntentId ? eq(bookings.stripePaymentIntentId, ref.paymentIntentId) : eq(bookings.stripeCheckoutSessionId, ref.sessionId!));
    const [viaPayments] = row
      ? [row]
      : await ctx.tx
          .select({ id: payments.bookingId })
          .from(payments)
          .where(ref.paymentIntentId ? eq(payments.stripePaymentIntentId, ref.paymentIntentId) : eq(payments.stripeCheckoutSessionId, ref.sessionId!));
    bookingId = viaPayments?.id ?? null;
  }
  if (bookingId === null) throw new PermanentEventError('the event names no booking (no metadata.bookingId, unknown payment intent)');
  const booking = await lockBooking(ctx.tx, bookingId);
  if (!booking) throw new PermanentEventError(`metadata.bookingId ${bookingId} names no booking`);
  return booking;
}

/**
 * A session event names the payment intent but not the charge, and is often the first event of a
 * payment, so the ledger entry it books would lack the charge. Best effort: one quick GET, and
 * without an answer the entry is booked without the charge id rather than the event failing.
 */
async function sessionChargeId(stripe: Stripe, session: Stripe.Checkout.Session): Promise<string | null> {
  const paymentIntentId = idOf(session.payment_intent);
  if (!paymentIntentId || session.payment_status !== 'paid') return null;
  try {
    const pi = await stripe.paymentIntents.retrieve(paymentIntentId, {}, { timeout: 3000, maxNetworkRetries: 0 });
    return idOf(pi.latest_charge);
  } catch (err) {
    logger.warn({ err, paymentIntentId }, 'could not read the charge of a paid session; booking it without');
    return null;
  }
}

/**
 * The booking of a Checkout Session event, which must be a session WE opened for that booking (a
 * payments row records each one): metadata alone could name any booking, for instance from another
 * environment sharing the Stripe account.
 */
async function findSessionBooking(ctx: HandlerContext, session: Stripe.Checkout.Session): Promise<BookingRow> {
  const booking = await findBooking(ctx, { metadata: session.metadata, clientReferenceId: session.client_reference_id, sessionId: session.id });
  const [ours] = await ctx.tx
    .select({ id: payments.id })
    .from(payments)
    .where(and(eq(payments.bookingId, booking.id), eq(payments.stripeCheckoutSessionId, session.id)));
  if (!ours) throw new PermanentEventError(`checkout session ${session.id} was not opened for booking ${booking.id}`);
  return booking;
}

/**
 * What a handler needs from Stripe's API, read before the transaction opens: a slow Stripe must never
 * hold booking and flight row locks. Current API versions no longer embed refunds in a charge, so
 * charge.refunded reads the charge's refunds (a GET, safe to repeat).
 */
async function prefetch(deps: { db: Db; stripe: Stripe }, event: Stripe.Event): Promise<HandlerContext['prefetched']> {
  const { stripe } = deps;
  if (event.type === 'checkout.session.completed' || event.type === 'checkout.session.async_payment_succeeded') {
    return { chargeId: await sessionChargeId(stripe, event.data.object as Stripe.Checkout.Session) };
  }
  // Payment and refund events name a payment intent; if we have not recorded it yet (its session event
  // has not arrived), ask Stripe which session created it, so the handler can check it is ours.
  let paymentIntentId: string | null = null;
  if (event.type === 'payment_intent.succeeded') paymentIntentId = (event.data.object as Stripe.PaymentIntent).id;
  else if (event.type === 'charge.succeeded' || event.type === 'charge.refunded') paymentIntentId = idOf((event.data.object as Stripe.Charge).payment_intent);
  else if (event.type === 'refund.created' || event.type === 'refund.updated') paymentIntentId = idOf((event.data.object as Stripe.Refund).payment_intent);
  const sessionId = paymentIntentId ? await sessionOfUnknownPaymentIntent(deps, paymentIntentId) : null;
  if (event.type !== 'charge.refunded') return { sessionId };
  const charge = event.data.object as Stripe.Charge;
  if (charge.refunds?.data && !charge.refunds.has_more) return { sessionId, refunds: charge.refunds.data };
  const refunds: Stripe.Refund[] = [];
  for await (const refund of stripe.refunds.list({ charge: charge.id, limit: 100 }, STRIPE_READ_OPTIONS)) refunds.push(refund);
  return { sessionId, refunds };
}

/** Reads made while an event waits: short, so a slow Stripe fails the delivery (and Stripe retries). */
const STRIPE_READ_OPTIONS = { timeout: 5000, maxNetworkRetries: 1 };

/**
 * A payment intent we have not seen yet (its session event has not arrived): which Checkout Session
 * created it, so the handler can check that session is one we opened. Null when we already know it.
 */
async function sessionOfUnknownPaymentIntent(deps: { db: Db; stripe: Stripe }, paymentIntentId: string): Promise<string | null> {
  const [known] = await deps.db.select({ id: payments.id }).from(payments).where(eq(payments.stripePaymentIntentId, paymentIntentId)).limit(1);
  if (known) return null;
  const list = await deps.stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 }, STRIPE_READ_OPTIONS);
  return list.data[0]?.id ?? null;
}

/**
 * The booking of a payment-intent or charge event. metadata.bookingId alone could name any booking,
 * so the payment intent must be one of this booking's: recorded on it or on one of its payments rows,
 * or created by a Checkout Session we opened for it.
 */
async function findPaymentBooking(ctx: HandlerContext, metadata: Stripe.Metadata | null | undefined, paymentIntentId: string): Promise<BookingRow> {
  const booking = await findBooking(ctx, { metadata, paymentIntentId });
  if (booking.stripePaymentIntentId === paymentIntentId) return booking;
  const [ours] = await ctx.tx
    .select({ id: payments.id })
    .from(payments)
    .where(
      and(
        eq(payments.bookingId, booking.id),
        ctx.prefetched.sessionId
          ? or(eq(payments.stripePaymentIntentId, paymentIntentId), eq(payments.stripeCheckoutSessionId, ctx.prefetched.sessionId))
          : eq(payments.stripePaymentIntentId, paymentIntentId),
      ),
    );
  if (!ours) throw new PermanentEventError(`payment intent ${paymentIntentId} did not come from a session opened for booking ${booking.id}`);
  return booking;
}

// ----------------------------------------------------------------------------------------- payments

interface PaymentFacts {
  /** The Checkout Session paid, when the event tells (session events) or Stripe told us (prefetch). */
  sessionId: string | null;
  paymentIntentId: string;
  chargeId: string | null;
  amountMinor: number;
  currency: string;
}

async function onSessionPaidOrPending(ctx: HandlerContext, session: Stripe.Checkout.Session) {
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
    return;
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
}

/**
 * Money arrived. Book it in the ledger (once per payment intent), then move the booking:
 * pending_payment -> confirmed; a late payment on a failed/expired/cancelled booking -> confirmed if
 * its seats can be taken again, else refund_pending with an automatic refund. Money for a booking we
 * cannot honour is refunded, never kept and never lost.
 */
async function onPaymentSucceeded(ctx: HandlerContext, booking: BookingRow, p: PaymentFacts) {
  if (p.currency.toUpperCase() !== booking.currency || p.amountMinor !== booking.totalMinor) {
    throw new PermanentEventError(
      `payment ${p.paymentIntentId} of ${p.amountMinor} ${p.currency.toUpperCase()} does not match booking ${booking.id} (${booking.totalMinor} ${booking.currency})`,
    );
  }
  await recordLedgerEntry(ctx.tx, 'charge', {
    bookingId: booking.id,
    userId: booking.userId,
    amountMinor: p.amountMinor,
    currency: p.currency,
    paymentIntentId: p.paymentIntentId,
    chargeId: p.chargeId,
    eventId: ctx.event.id,
  });
  // The payments row of the session that was paid (by session when known, else by payment intent).
  await ctx.tx
    .update(payments)
    .set({ status: 'succeeded', stripePaymentIntentId: p.paymentIntentId })
    .where(and(eq(payments.bookingId, booking.id), p.sessionId ? eq(payments.stripeCheckoutSessionId, p.sessionId) : eq(payments.stripePaymentIntentId, p.paymentIntentId)));

  if (booking.stripePaymentIntentId && booking.stripePaymentIntentId !== p.paymentIntentId && booking.status !== 'pending_payment') {
    // A second, different payment for one booking (two sessions both paid): give that money back.
    await enqueueOutbox(ctx.tx, 'stripe_refund', `payment_intent:${p.paymentIntentId}`, {
      bookingId: booking.id,
      paymentIntentId: p.paymentIntentId,
      reason: 'duplicate payment',
      idempotencySuffix: p.paymentIntentId,
    });
    await flag(ctx, booking.id, `duplicate payment ${p.paymentIntentId} refunded automatically`);
    return;
  }

  await applyPayment(ctx, booking, p.paymentIntentId);
  // Refund events may have been handled before this payment's events (Stripe retries them for days):
  // settle against the refunds already booked, with the booking as it now stands.
  const [current] = await ctx.tx.select().from(bookings).where(eq(bookings.id, booking.id));
  if (current) await settleRefunds(ctx, current, p.paymentIntentId);
}

async function applyPayment(ctx: HandlerContext, booking: BookingRow, paymentIntentId: string) {
  const paid = { paymentStatus: 'paid' as const, stripePaymentIntentId: paymentIntentId, holdExpiresAt: null };
  const refund = (reason: string) =>
    enqueueOutbox(ctx.tx, 'stripe_refund', `booking:${booking.id}`, { bookingId: booking.id, paymentIntentId, reason });
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
      await enqueueOutbox(ctx.tx, 'send_booking_confirmation', `booking:${booking.id}`, { bookingId: booking.id });
      return;
    case 'failed':
    case 'expired':
    case 'cancelled': {
      const departed = await flightDeparted(ctx, booking.flightId);
      if (!departed && (await retakeBookingSeats(ctx.tx, booking))) {
        await transition(ctx.tx, { bookingId: booking.id, from: booking.status, to: 'confirmed', reason: `late payment after ${booking.status}; seats taken again`, actor: ctx.actor, set: paid });
        await enqueueOutbox(ctx.tx, 'send_booking_confirmation', `booking:${booking.id}`, { bookingId: booking.id });
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
  return !flight || flight.departureAt <= new Date();
}

async function onSessionPaymentFailed(ctx: HandlerContext, session: Stripe.Checkout.Session) {
  // Changes the booking only if this session is its current one, so no ownership check is needed.
  const booking = await findBooking(ctx, { metadata: session.metadata, clientReferenceId: session.client_reference_id, sessionId: session.id });
  await ctx.tx.update(payments).set({ status: 'failed' }).where(eq(payments.stripeCheckoutSessionId, session.id));
  if (booking.status === 'pending_payment' && booking.stripeCheckoutSessionId === session.id) await failBooking(ctx, booking, 'delayed payment failed');
}

async function onPaymentIntentFailed(ctx: HandlerContext, pi: Stripe.PaymentIntent) {
  const booking = await findBooking(ctx, { metadata: pi.metadata, paymentIntentId: pi.id });
  // A declined card inside an open Checkout page is not the end: the traveller can try another card
  // until the session expires. Only a delayed payment that was already under way fails the booking.
  if (booking.status === 'pending_payment' && booking.paymentStatus === 'processing' && booking.stripePaymentIntentId === pi.id) {
    await failBooking(ctx, booking, 'payment failed');
  }
}

async function failBooking(ctx: HandlerContext, booking: BookingRow, reason: string) {
  await transition(ctx.tx, { bookingId: booking.id, from: booking.status, to: 'failed', reason, actor: ctx.actor, set: { paymentStatus: 'failed', holdExpiresAt: null } });
  await releaseBookingSeats(ctx.tx, booking);
}

async function onSessionExpired(ctx: HandlerContext, session: Stripe.Checkout.Session) {
  // Changes the booking only if this session is its current one; an orphaned session we expired
  // ourselves (never recorded) is simply over.
  const booking = await findBooking(ctx, { metadata: session.metadata, clientReferenceId: session.client_reference_id, sessionId: session.id });
  await ctx.tx.update(payments).set({ status: 'expired' }).where(and(eq(payments.stripeCheckoutSessionId, session.id), inArray(payments.status, ['open', 'processing'])));
  // Expires the booking only when its hold has run out as well. A session closed early (we expire the
  // old page before opening a replacement; a hold longer than the page) leaves the seats held until the
  // hold lapses, and the hold-expiry job ends the booking then.
  const holdOver = !booking.holdExpiresAt || booking.holdExpiresAt.getTime() <= Date.now() + HOLD_EXPIRY_TOLERANCE_MS;
  if (booking.status === 'pending_payment' && booking.stripeCheckoutSessionId === session.id && booking.paymentStatus !== 'processing' && holdOver) {
    await transition(ctx.tx, { bookingId: booking.id, from: booking.status, to: 'expired', reason: 'checkout session expired', actor: ctx.actor, set: { holdExpiresAt: null } });
    await releaseBookingSeats(ctx.tx, booking);
  }
}

// ------------------------------------------------------------------------------------------ refunds

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
    eventId: ctx.event.id,
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
      });
    }
  }
}

/**
 * Moves the booking once refunds reach what was charged; a partial refund only marks it. A refunded
 * booking whose refund later failed stays refunded (the state is final: the traveller gave the seats
 * up); the money owed is flagged and re-requested by onRefund, and payment_status says we hold it.
 */
async function settleRefunds(ctx: HandlerContext, booking: BookingRow, paymentIntentId: string) {
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

async function flag(ctx: HandlerContext, bookingId: number, reason: string) {
  logger.error({ bookingId, stripeEventId: ctx.event.id }, `booking needs attention: ${reason}`);
  await ctx.tx.update(bookings).set({ needsAttention: true, attentionReason: reason.slice(0, 255) }).where(eq(bookings.id, bookingId));
}
