import Stripe from 'stripe';
import type { Deps } from '../deps.js';
import type { OutboxPayloads } from '../services/outbox.js';

/**
 * The Stripe calls the system makes after a commit. Each is safe to repeat: refunds carry an
 * idempotency key derived from the booking, and expiring a session that is no longer open is done.
 */
export type StripeJobDeps = Pick<Deps, 'stripe'>;

/** Stripe idempotency key for a booking's refund: one refund request per booking, however often sent. */
export const refundIdempotencyKey = (bookingId: number, suffix?: string) => `refund-booking-${bookingId}${suffix ? `-${suffix}` : ''}`;

export async function requestStripeRefund(deps: StripeJobDeps, payload: OutboxPayloads['stripe_refund']): Promise<void> {
  await deps.stripe.refunds.create(
    {
      payment_intent: payload.paymentIntentId,
      // Without `amount`, whatever remains is refunded (whether or not part was refunded in the
      // dashboard); a retry after a failed refund names that refund's own amount.
      ...(payload.amountMinor ? { amount: payload.amountMinor } : {}),
      reason: 'requested_by_customer',
      metadata: { bookingId: String(payload.bookingId), ...(payload.reason ? { note: payload.reason.slice(0, 500) } : {}) },
    },
    { idempotencyKey: refundIdempotencyKey(payload.bookingId, payload.idempotencySuffix) },
  );
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
