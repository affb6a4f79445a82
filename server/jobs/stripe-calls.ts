import Stripe from 'stripe';
import type { Deps } from '../deps.js';
import { logger } from '../lib/logger.js';
import type { OutboxPayloads } from '../services/outbox.js';

/**
 * The Stripe calls the system makes after a commit. Each is safe to repeat: a refund is looked for
 * before it is made (and made with an idempotency key derived from the booking), and expiring a
 * session that is no longer open is done.
 */
export type StripeJobDeps = Pick<Deps, 'stripe'>;

/** Stripe idempotency key for a booking's refund: one refund request per booking, however often sent. */
export const refundIdempotencyKey = (bookingId: number, suffix?: string) => `refund-booking-${bookingId}${suffix ? `-${suffix}` : ''}`;

/**
 * Which of our refund requests a refund answers, in its metadata: the request's idempotency key. Stripe
 * forgets idempotency keys after 24 hours, so this is what still finds the refund days later.
 */
export const REFUND_REQUEST_METADATA = 'refundRequest';

/** Asks Stripe for the refund, or finds the one it already made for this request (`adopted`). */
export async function requestStripeRefund(deps: StripeJobDeps, payload: OutboxPayloads['stripe_refund']): Promise<{ refundId: string; adopted: boolean }> {
  const key = refundIdempotencyKey(payload.bookingId, payload.idempotencySuffix);
  // A retry (BullMQ's, or `npm run outbox:retry` days later) of a request whose answer was lost: the
  // refund Stripe made then is this request's refund; asking again would refund the money twice once
  // Stripe has forgotten the key. Adopted whatever its status: a refund that failed since is handled
  // by its own refund.updated event (re-requested under another key).
  const made = await refundAlreadyMade(deps, payload.paymentIntentId, key);
  if (made) {
    logger.warn({ bookingId: payload.bookingId, refundId: made.id, refundRequest: key }, 'refund already made at Stripe for this request; adopted, not made again');
    return { refundId: made.id, adopted: true };
  }
  const refund = await deps.stripe.refunds.create(
    {
      payment_intent: payload.paymentIntentId,
      // Without `amount`, whatever remains is refunded (whether or not part was refunded in the
      // dashboard); a retry after a failed refund names that refund's own amount.
      ...(payload.amountMinor ? { amount: payload.amountMinor } : {}),
      reason: 'requested_by_customer',
      metadata: {
        bookingId: String(payload.bookingId),
        [REFUND_REQUEST_METADATA]: key,
        ...(payload.reason ? { note: payload.reason.slice(0, 500) } : {}),
      },
    },
    { idempotencyKey: key },
  );
  return { refundId: refund.id, adopted: false };
}

/** The payment intent's refund made for request `key`, if Stripe has one (newest first, every page). */
async function refundAlreadyMade(deps: StripeJobDeps, paymentIntentId: string, key: string): Promise<Stripe.Refund | null> {
  for await (const refund of deps.stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100 })) {
    if (refund.metadata?.[REFUND_REQUEST_METADATA] === key) return refund;
  }
  return null;
}

export async function expireStripeSession(deps: StripeJobDeps, payload: OutboxPayloads['stripe_expire_session']): Promise<void> {
  try {
    await deps.stripe.checkout.sessions.expire(payload.sessionId);
  } catch (err) {
    // Already expired or completed: nothing left to expire, so the job is done.
    if (err instanceof Stripe.errors.StripeInvalidRequestError && (err.statusCode === 400 || err.statusCode === 404)) return;
    throw err;
  }
}
