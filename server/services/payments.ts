import { and, count, eq } from 'drizzle-orm';
import type { Db } from '../db/types.js';
import { bookings, flights, payments } from '../db/schema/index.js';
import { env } from '../env.js';
import { AppError } from '../lib/errors.js';
import { logger } from '../lib/logger.js';
import { isTransientStripeError, stripeErrorSummary, type Stripe } from '../lib/stripe.js';
import { withIdempotency, idempotentTransaction } from './idempotency.js';
import { invalidTransition, lockBooking, transition } from './booking-state.js';
import { releaseBookingSeats } from './inventory.js';
import { enqueueOutbox } from './outbox.js';
import { actorName, type Actor } from './access-control.js';
import { bookingView, loadBookingFor, type BookingView } from './bookings.js';
import { runOutboxJobNow } from '../jobs/run-now.js';

/** Stripe refuses Checkout Sessions that expire sooner than 30 minutes after creation. */
const STRIPE_MIN_SESSION_MINUTES = 30;
/** Head room for the time between planning the session and Stripe receiving the request. */
const SESSION_PLANNING_SLACK_MS = 60_000;
/** An open session closer than this to its expiry is not handed out again. */
const REUSE_MIN_REMAINING_MS = 2 * 60_000;
/** The longest a booking's seats may be held unpaid, however many payment pages are opened. */
const MAX_HOLD_MS = Math.max(2 * 3600_000, (env.BOOKING_HOLD_MINUTES + 60) * 60_000);

export interface CheckoutSessionView {
  sessionId: string;
  url: string;
  expiresAt: string;
}

type Deps = { db: Db; stripe: Stripe };

/**
 * Stripe idempotency key for a session: the booking, how many sessions it had before, and the planned
 * expiry. Concurrent callers share all three (one session); a replacement session differs in all.
 */
export const checkoutIdempotencyKey = (bookingId: number, attempt: number, expiresAt: Date) =>
  `checkout-booking-${bookingId}-${attempt}-${Math.floor(expiresAt.getTime() / 1000)}`;

/**
 * Opens (or returns the open) Stripe Checkout Session for a pending_payment booking.
 *
 * Three steps, and the Stripe call is in none of the transactions:
 *  1. lock the booking; return the open session if there is one; otherwise plan this attempt's
 *     expiry and extend the seat hold to it (a session never outlives its seats), and commit. An open
 *     session too close to its expiry to hand out is first expired at Stripe (never two payable);
 *  2. create the session at Stripe with an idempotency key derived from the booking and that plan, so
 *     concurrent or retried calls get the same session, never a second one;
 *  3. record the session on the booking and complete the request's idempotency key, in one transaction.
 */
export async function createCheckoutSession(deps: Deps, actor: Actor, input: { bookingId: number; idempotencyKey: string }, now = () => new Date()): Promise<CheckoutSessionView> {
  const { response } = await withIdempotency<CheckoutSessionView>(
    deps.db,
    { scope: 'payments.createCheckoutSession', principal: actorName(actor), key: input.idempotencyKey, input: { bookingId: input.bookingId }, lockSeconds: 60 },
    async ({ finish }) => {
      // A session this call closed at Stripe so that it may be replaced (see closeBeforeReplacing).
      let closed: string | null = null;
      const planAttempt = () => deps.db.transaction(async (tx) => {
        const booking = await loadBookingFor(tx, actor, input.bookingId, { forUpdate: true });
        if (booking.status !== 'pending_payment') {
          throw new AppError('INVALID_STATE_TRANSITION', `Only a pending_payment booking can be paid; this one is ${booking.status}`, { from: booking.status });
        }
        const t = now();
        // A lapsed hold the expiry job has not swept yet must not be brought back to life here.
        if (booking.holdExpiresAt && booking.holdExpiresAt <= t) {
          throw new AppError('INVALID_STATE_TRANSITION', 'The seat hold on this booking has lapsed; please book again', { from: booking.status });
        }
        // A delayed payment (bank debit) is under way: a second payment page could charge twice.
        if (booking.paymentStatus === 'processing') {
          throw new AppError('CONFLICT', 'A payment for this booking is already being processed; wait for its outcome');
        }
        if (booking.stripeCheckoutSessionId && booking.stripeCheckoutSessionExpiresAt && booking.stripeCheckoutSessionExpiresAt.getTime() - t.getTime() > REUSE_MIN_REMAINING_MS) {
          const [open] = await tx.select().from(payments).where(and(eq(payments.stripeCheckoutSessionId, booking.stripeCheckoutSessionId), eq(payments.status, 'open')));
          if (open) {
            const existing = { sessionId: open.stripeCheckoutSessionId, url: open.checkoutUrl, expiresAt: open.expiresAt.toISOString() };
            await finish(tx, existing);
            return { existing };
          }
        }
        if (booking.stripeCheckoutSessionId && booking.stripeCheckoutSessionId !== closed) {
          // Still open but too close to its expiry to hand out: it is replaced, and closed at Stripe
          // first, or a traveller with the old page still open could pay both.
          const [open] = await tx.select({ id: payments.id }).from(payments).where(and(eq(payments.stripeCheckoutSessionId, booking.stripeCheckoutSessionId), eq(payments.status, 'open')));
          if (open) return { replace: booking.stripeCheckoutSessionId };
        }
        if (closed) {
          await tx.update(payments).set({ status: 'expired' }).where(and(eq(payments.stripeCheckoutSessionId, closed), eq(payments.status, 'open')));
        }
        // Reuse a plan another caller made moments ago (same Stripe key: same session), else plan anew.
        const minimum = t.getTime() + STRIPE_MIN_SESSION_MINUTES * 60_000 + 5_000;
        const planned = booking.stripeCheckoutSessionId === null ? booking.stripeCheckoutSessionExpiresAt : null;
        let expiresAt = planned && planned.getTime() >= minimum ? planned : new Date(Math.ceil((minimum + SESSION_PLANNING_SLACK_MS) / 1000) * 1000);
        if (booking.holdExpiresAt && booking.holdExpiresAt > expiresAt && booking.holdExpiresAt.getTime() - t.getTime() <= 24 * 3600_000) {
          expiresAt = new Date(Math.floor(booking.holdExpiresAt.getTime() / 1000) * 1000);
        }
        // Each new session extends the hold; without a ceiling, opening pages again and again would
        // keep seats off sale for ever without paying.
        const ceiling = booking.createdAt.getTime() + MAX_HOLD_MS;
        if (expiresAt.getTime() > ceiling) {
          if (ceiling < minimum + SESSION_PLANNING_SLACK_MS) throw new AppError('CONFLICT', 'The seats of this booking cannot be held any longer; please book again');
          expiresAt = new Date(Math.floor(ceiling / 1000) * 1000);
        }
        // The attempt number keeps a new session's Stripe key apart from an earlier session's.
        const [{ attempt }] = (await tx.select({ attempt: count() }).from(payments).where(eq(payments.bookingId, booking.id))) as [{ attempt: number }];
        await tx
          .update(bookings)
          .set({
            stripeCheckoutSessionId: null,
            stripeCheckoutSessionExpiresAt: expiresAt,
            holdExpiresAt: booking.holdExpiresAt && booking.holdExpiresAt > expiresAt ? booking.holdExpiresAt : expiresAt,
          })
          .where(eq(bookings.id, booking.id));
        const [flight] = await tx.select().from(flights).where(eq(flights.id, booking.flightId));
        if (flight!.departureAt <= t) throw new AppError('VALIDATION', `Flight ${flight!.flightNumber} has already departed`);
        return { booking, flight: flight!, expiresAt, attempt };
      });
      let plan = await planAttempt();
      for (let round = 0; 'replace' in plan; round++) {
        if (round >= 2) throw new AppError('IDEMPOTENCY_IN_PROGRESS', 'The payment page for this booking is being replaced; retry shortly', undefined, 1);
        await closeBeforeReplacing(deps, plan.replace!);
        closed = plan.replace!;
        plan = await planAttempt();
      }
      if ('existing' in plan) return plan.existing!;

      const { booking, flight, expiresAt, attempt } = plan;
      const unitAmount = booking.totalMinor / booking.passengerCount;
      if (!Number.isInteger(unitAmount)) throw new Error(`booking ${booking.id}: total does not divide by passengers`);
      let session: Stripe.Checkout.Session;
      try {
        session = await deps.stripe.checkout.sessions.create(
          {
            mode: 'payment',
            line_items: [
              {
                quantity: booking.passengerCount,
                price_data: {
                  currency: booking.currency.toLowerCase(),
                  unit_amount: unitAmount,
                  product_data: {
                    name: `Flight ${flight.flightNumber} ${flight.origin} to ${flight.destination}`,
                    description: `Departs ${flight.departureAt.toISOString().replace('T', ' ').slice(0, 16)} UTC, one seat per passenger`,
                  },
                },
              },
            ],
            client_reference_id: String(booking.id),
            metadata: { bookingId: String(booking.id) },
            payment_intent_data: { metadata: { bookingId: String(booking.id) } },
            expires_at: Math.floor(expiresAt.getTime() / 1000),
            success_url: `${env.APP_BASE_URL}/bookings/${booking.id}?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
            cancel_url: `${env.APP_BASE_URL}/bookings/${booking.id}?checkout=cancelled`,
          },
          { idempotencyKey: checkoutIdempotencyKey(booking.id, attempt, expiresAt) },
        );
      } catch (err) {
        if (isTransientStripeError(err)) {
          logger.warn({ err, bookingId: booking.id }, 'Stripe unavailable while creating a Checkout Session');
          throw new AppError('PAYMENT_PROVIDER_UNAVAILABLE', 'The payment provider is not reachable right now; retry shortly', undefined, 5);
        }
        logger.error({ err, bookingId: booking.id }, 'Stripe refused to create a Checkout Session');
        throw new Error(`Stripe refused the Checkout Session: ${stripeErrorSummary(err)}`);
      }
      if (!session.url || !session.expires_at) throw new Error(`Stripe returned session ${session.id} without url or expires_at`);

      const view: CheckoutSessionView = { sessionId: session.id, url: session.url, expiresAt: new Date(session.expires_at * 1000).toISOString() };
      let orphanJob: number | null = null;
      const stillPayable = await deps.db.transaction(async (tx) => {
        const current = await lockBooking(tx, booking.id);
        if (!current || current.status !== 'pending_payment') {
          // Closed while Stripe answered: the session we just opened must not stay payable. Recorded in
          // the outbox (cancel may not have: the booking did not name this session yet), so a failed
          // expiry is retried like any other.
          orphanJob = await enqueueOutbox(tx, 'stripe_expire_session', session.id, { bookingId: booking.id, sessionId: session.id });
          return false;
        }
        await tx
          .insert(payments)
          .ignore()
          .values({
            bookingId: booking.id,
            stripeCheckoutSessionId: session.id,
            checkoutUrl: session.url!,
            amountMinor: session.amount_total ?? booking.totalMinor,
            currency: booking.currency,
            status: 'open',
            expiresAt: new Date(session.expires_at * 1000),
          });
        await tx
          .update(bookings)
          .set({ stripeCheckoutSessionId: session.id, stripeCheckoutSessionExpiresAt: new Date(session.expires_at * 1000) })
          .where(eq(bookings.id, booking.id));
        await finish(tx, view);
        return true;
      });
      if (!stillPayable) {
        if (orphanJob) await runOutboxJobNow(deps, orphanJob);
        throw new AppError('INVALID_STATE_TRANSITION', 'The booking was closed while the payment page was being prepared');
      }
      return view;
    },
  );
  return response;
}

/**
 * Expires an open session at Stripe before another replaces it, so that at most one can be paid. One
 * that Stripe reports paid is not replaced: the payment is on its way to us (webhook).
 */
async function closeBeforeReplacing(deps: Deps, sessionId: string): Promise<void> {
  const unavailable = (err: unknown) => {
    logger.warn({ err, sessionId }, 'Stripe unavailable while closing a Checkout Session to replace it');
    return new AppError('PAYMENT_PROVIDER_UNAVAILABLE', 'The payment provider is not reachable right now; retry shortly', undefined, 5);
  };
  try {
    await deps.stripe.checkout.sessions.expire(sessionId);
    return;
  } catch (err) {
    if (isTransientStripeError(err)) throw unavailable(err);
    // Stripe refuses to expire a session that is no longer open: see whether it expired or was paid.
    const current = await deps.stripe.checkout.sessions.retrieve(sessionId).catch((e: unknown) => {
      throw isTransientStripeError(e) ? unavailable(e) : e;
    });
    if (current.status === 'complete') throw new AppError('CONFLICT', 'This booking has just been paid; its confirmation is on its way');
    if (current.status !== 'expired') throw err;
  }
}

/**
 * confirmed -> refund_pending, seats back on sale. Right after the commit we ask Stripe for the refund
 * (idempotency key derived from the booking); if Stripe cannot be reached the outbox retries it. The
 * refund's ledger entry is written when Stripe confirms it (charge.refunded / refund.updated webhooks).
 */
export async function requestRefund(deps: Deps, actor: Actor, input: { bookingId: number; idempotencyKey: string; reason?: string }): Promise<BookingView> {
  let refundJob: number | null = null;
  const { response } = await idempotentTransaction(
    deps.db,
    {
      scope: 'payments.requestRefund',
      principal: actorName(actor),
      key: input.idempotencyKey,
      input: { bookingId: input.bookingId, reason: input.reason ?? null },
    },
    async (tx) => {
      const booking = await loadBookingFor(tx, actor, input.bookingId, { forUpdate: true });
      // The table also allows failed|expired|cancelled -> refund_pending, but only for a late payment the
      // webhook handles; a traveller may ask for the refund of a confirmed booking and nothing else.
      if (booking.status !== 'confirmed') {
        const hint = booking.status === 'pending_payment' ? 'nothing has been paid; cancel the booking instead (bookings.cancel)' : 'only a confirmed booking can be refunded';
        throw invalidTransition(booking.status, 'refund_pending', hint);
      }
      await transition(tx, {
        bookingId: booking.id,
        from: booking.status,
        to: 'refund_pending',
        reason: input.reason ? `refund requested: ${input.reason}` : 'refund requested',
        actor: actorName(actor),
      });
      if (!booking.stripePaymentIntentId) throw new Error(`confirmed booking ${booking.id} has no payment intent`);
      await releaseBookingSeats(tx, booking);
      refundJob = await enqueueOutbox(tx, 'stripe_refund', `booking:${booking.id}`, {
        bookingId: booking.id,
        paymentIntentId: booking.stripePaymentIntentId,
        ...(input.reason ? { reason: input.reason } : {}),
      });
      const [updated] = await tx.select().from(bookings).where(eq(bookings.id, booking.id));
      return bookingView(tx, updated!);
    },
  );
  if (refundJob) await runOutboxJobNow(deps, refundJob);
  return response;
}
