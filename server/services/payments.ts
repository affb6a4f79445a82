import { and, count, eq } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import type { DbOrTx } from '../db/types.js';
import { bookings, flights, payments } from '../db/schema/index.js';
import { AppError } from '../lib/errors.js';
import { logger } from '../lib/logger.js';
import { isTransientStripeError, stripeErrorSummary, type Stripe } from '../lib/stripe.js';
import { withIdempotency, idempotentTransaction } from './idempotency.js';
import { invalidTransition, lockBooking, transition } from './booking-state.js';
import { releaseBookingSeats } from './inventory.js';
import { enqueueOutbox } from './outbox.js';
import { withSearchInvalidation } from './search-cache.js';
import { actorName, type Actor } from './access-control.js';
import { bookingView, loadBookingFor, type BookingView } from './bookings.js';
import { planCheckout } from './checkout-plan.js';
import { refundDeadline, refundWindowOpen, salesCloseAt } from './cutoffs.js';
import { loadUserRole } from './auth.js';

export interface CheckoutSessionView {
  sessionId: string;
  url: string;
  expiresAt: string;
}

/** Opening a session calls Stripe, whose pages link back to APP_BASE_URL. */
export type PaymentDeps = Pick<Deps, 'db' | 'redis' | 'stripe' | 'config' | 'clock' | 'jobs'>;

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
export async function createCheckoutSession(deps: PaymentDeps, actor: Actor, input: { bookingId: number; idempotencyKey: string }): Promise<CheckoutSessionView> {
  const { response } = await withIdempotency<CheckoutSessionView>(
    deps,
    { scope: 'payments.createCheckoutSession', principal: actorName(actor), key: input.idempotencyKey, input: { bookingId: input.bookingId }, lockSeconds: 60 },
    async ({ finish }) => {
      // A session this call closed at Stripe so that it may be replaced (see closeBeforeReplacing).
      let closed: string | null = null;
      const planAttempt = () => deps.db.transaction(async (tx) => {
        const booking = await loadBookingFor(tx, actor, input.bookingId, { forUpdate: true });
        const [open] = booking.stripeCheckoutSessionId
          ? await tx.select().from(payments).where(and(eq(payments.stripeCheckoutSessionId, booking.stripeCheckoutSessionId), eq(payments.status, 'open')))
          : [];
        const [flight] = await tx.select().from(flights).where(eq(flights.id, booking.flightId));
        const t = deps.clock.now();
        const plan = planCheckout({
          booking,
          sessionOpen: !!open,
          closedSessionId: closed,
          now: t,
          bookingHoldMinutes: deps.config.BOOKING_HOLD_MINUTES,
          salesCloseAt: salesCloseAt(flight!.departureAt, deps.config.SALES_CUTOFF_MINUTES),
        });
        if (plan.kind === 'reuse') {
          const existing = { sessionId: open!.stripeCheckoutSessionId, url: open!.checkoutUrl, expiresAt: open!.expiresAt.toISOString() };
          await finish(tx, existing);
          return { existing };
        }
        if (plan.kind === 'replace') return { replace: plan.sessionId };
        if (closed) {
          await tx.update(payments).set({ status: 'expired' }).where(and(eq(payments.stripeCheckoutSessionId, closed), eq(payments.status, 'open')));
        }
        const { expiresAt, holdExpiresAt } = plan;
        // The attempt number keeps a new session's Stripe key apart from an earlier session's.
        const [{ attempt }] = (await tx.select({ attempt: count() }).from(payments).where(eq(payments.bookingId, booking.id))) as [{ attempt: number }];
        await tx.update(bookings).set({ stripeCheckoutSessionId: null, stripeCheckoutSessionExpiresAt: expiresAt, holdExpiresAt }).where(eq(bookings.id, booking.id));
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

      const { booking } = plan;
      const session = await openStripeSession(deps, plan);
      if (!session.url || !session.expires_at) throw new Error(`Stripe returned session ${session.id} without url or expires_at`);

      const view: CheckoutSessionView = { sessionId: session.id, url: session.url, expiresAt: new Date(session.expires_at * 1000).toISOString() };
      let orphanJob: number | null = null;
      const stillPayable = await deps.db.transaction(async (tx) => {
        const current = await lockBooking(tx, booking.id);
        if (!current || current.status !== 'pending_payment') {
          // Closed while Stripe answered: the session we just opened must not stay payable. Recorded in
          // the outbox (cancel may not have: the booking did not name this session yet), so a failed
          // expiry is retried like any other.
          orphanJob = await enqueueOutbox(tx, 'stripe_expire_session', session.id, { bookingId: booking.id, sessionId: session.id }, deps.clock.now());
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
        if (orphanJob) await deps.jobs.outboxCommitted([orphanJob]);
        throw new AppError('INVALID_STATE_TRANSITION', 'The booking was closed while the payment page was being prepared');
      }
      return view;
    },
  );
  return response;
}

type SessionPlan = { booking: typeof bookings.$inferSelect; flight: typeof flights.$inferSelect; expiresAt: Date; attempt: number };

/** Step 2: the Checkout Session at Stripe, keyed so that concurrent or retried calls get the same one. */
async function openStripeSession(deps: PaymentDeps, { booking, flight, expiresAt, attempt }: SessionPlan): Promise<Stripe.Checkout.Session> {
  const unitAmount = booking.totalMinor / booking.passengerCount;
  if (!Number.isInteger(unitAmount)) throw new Error(`booking ${booking.id}: total does not divide by passengers`);
  try {
    return await deps.stripe.checkout.sessions.create(
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
        // The customer pays in the booking's currency: Adaptive Pricing (on by default in many accounts)
        // would present and charge another one, which the webhook would have to refund.
        adaptive_pricing: { enabled: false },
        client_reference_id: String(booking.id),
        metadata: { bookingId: String(booking.id) },
        payment_intent_data: { metadata: { bookingId: String(booking.id) } },
        expires_at: Math.floor(expiresAt.getTime() / 1000),
        success_url: `${deps.config.APP_BASE_URL}/bookings/${booking.id}?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
        cancel_url: `${deps.config.APP_BASE_URL}/bookings/${booking.id}?checkout=cancelled`,
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
}

/**
 * Expires an open session at Stripe before another replaces it, so that at most one can be paid. One
 * that Stripe reports paid is not replaced: the payment is on its way to us (webhook).
 */
async function closeBeforeReplacing(deps: PaymentDeps, sessionId: string): Promise<void> {
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
 * Inside the refund window (until REFUND_CUTOFF_MINUTES before departure) anyone who may act on the
 * booking may refund it: false. Past it only an admin, whose role is read again from the database
 * (a demoted admin's token still says admin for a while): true, so the audit row names them.
 */
async function refundWindowOverride(tx: DbOrTx, deps: Pick<PaymentDeps, 'config' | 'clock'>, actor: Actor, flightId: number): Promise<boolean> {
  const [flight] = await tx.select({ departureAt: flights.departureAt }).from(flights).where(eq(flights.id, flightId));
  if (refundWindowOpen(flight!.departureAt, deps.clock.now(), deps.config.REFUND_CUTOFF_MINUTES)) return false;
  if (actor.role === 'admin' && (await loadUserRole(tx, actor.userId)) === 'admin') return true;
  throw new AppError('REFUND_WINDOW_CLOSED', `Refunds close ${deps.config.REFUND_CUTOFF_MINUTES} minutes before departure; this booking can no longer be refunded online`, {
    refundDeadline: refundDeadline(flight!.departureAt, deps.config.REFUND_CUTOFF_MINUTES).toISOString(),
  });
}

/**
 * confirmed -> refund_pending, seats back on sale. The refund request is recorded in the outbox and,
 * right after the commit, handed to the worker's Stripe queue (idempotency key derived from the
 * booking), which retries it with back-off while Stripe cannot be reached. The
 * refund's ledger entry is written when Stripe confirms it (charge.refunded / refund.updated webhooks).
 */
export async function requestRefund(deps: PaymentDeps, actor: Actor, input: { bookingId: number; idempotencyKey: string; reason?: string }): Promise<BookingView> {
  let refundJob: number | null = null;
  const { response } = await withSearchInvalidation(deps, () => idempotentTransaction(
    deps,
    {
      scope: 'payments.requestRefund',
      principal: actorName(actor),
      key: input.idempotencyKey,
      input: { bookingId: input.bookingId, reason: input.reason ?? null },
    },
    async (tx) => {
      refundJob = null; // a run again after a deadlock starts from nothing
      const booking = await loadBookingFor(tx, actor, input.bookingId, { forUpdate: true });
      // The table also allows failed|expired|cancelled -> refund_pending, but only for a late payment the
      // webhook handles; a traveller may ask for the refund of a confirmed booking and nothing else.
      if (booking.status !== 'confirmed') {
        const hint = booking.status === 'pending_payment' ? 'nothing has been paid; cancel the booking instead (bookings.cancel)' : 'only a confirmed booking can be refunded';
        throw invalidTransition(booking.status, 'refund_pending', hint);
      }
      const override = await refundWindowOverride(tx, deps, actor, booking.flightId);
      const reason = input.reason ? `refund requested: ${input.reason}` : 'refund requested';
      await transition(tx, {
        bookingId: booking.id,
        from: booking.status,
        to: 'refund_pending',
        reason: override ? `${reason} (after the refund window, by admin ${actorName(actor)})` : reason,
        actor: override ? `admin:${actor.userId}` : actorName(actor),
      });
      if (!booking.stripePaymentIntentId) throw new Error(`confirmed booking ${booking.id} has no payment intent`);
      await releaseBookingSeats(tx, booking);
      refundJob = await enqueueOutbox(tx, 'stripe_refund', `booking:${booking.id}`, {
        bookingId: booking.id,
        paymentIntentId: booking.stripePaymentIntentId,
        ...(input.reason ? { reason: input.reason } : {}),
      }, deps.clock.now());
      const [updated] = await tx.select().from(bookings).where(eq(bookings.id, booking.id));
      return bookingView(tx, updated!);
    },
  ));
  if (refundJob) await deps.jobs.outboxCommitted([refundJob]);
  return response;
}
