import { and, eq, lt } from 'drizzle-orm';
import { bookings, payments } from '../db/schema/index.js';
import { logger } from '../lib/logger.js';
import { settleFromPaymentIntent } from './stripe-events/from-intent.js';
import type { ReconcileDeps } from './reconciliation.js';

/**
 * Delayed payments (bank debits) keep their seats while `processing`, as long as the bank takes. One
 * whose outcome never reaches us (the events were lost, or are older than Stripe keeps them; the
 * intent was abandoned) would hold them silently forever. So a reconciliation run looks at every
 * booking whose payment has been processing longer than PAYMENT_PROCESSING_ALERT_DAYS and asks Stripe
 * for its payment intent: a final answer is applied through the webhook handlers
 * (stripe-events/from-intent.ts); otherwise the booking is flagged for a human. Never a release or a
 * cancel on a guess: only Stripe's own answer moves the booking.
 */

export interface StuckPayment {
  bookingId: number;
  paymentIntentId: string;
  /** When its payments row turned `processing` (ISO). */
  processingSince: string;
  /** The payment intent's status at Stripe now. */
  stripeStatus: string;
  /** `settled`: Stripe's final answer applied; `flagged`: no answer yet, a human is asked to look. */
  action: 'settled' | 'flagged';
}

/** Bookings looked at per run, oldest first; the rest wait for the next run. */
const MAX_PER_RUN = 500;
const DAY_MS = 86_400_000;

export async function checkStuckPayments(deps: ReconcileDeps, runId: number): Promise<StuckPayment[]> {
  const now = deps.clock.now();
  // The payments row turns `processing` when the session completes unpaid and changes again only when
  // the payment ends, so its updated_at is when the bank started.
  const stuck = await deps.db
    .select({ bookingId: bookings.id, paymentIntentId: bookings.stripePaymentIntentId, since: payments.updatedAt })
    .from(bookings)
    .innerJoin(payments, and(eq(payments.bookingId, bookings.id), eq(payments.stripePaymentIntentId, bookings.stripePaymentIntentId)))
    .where(
      and(
        eq(bookings.status, 'pending_payment'),
        eq(bookings.paymentStatus, 'processing'),
        eq(payments.status, 'processing'),
        lt(payments.updatedAt, new Date(now.getTime() - deps.config.PAYMENT_PROCESSING_ALERT_DAYS * DAY_MS)),
      ),
    )
    .orderBy(payments.updatedAt)
    .limit(MAX_PER_RUN);
  const found: StuckPayment[] = [];
  for (const row of stuck) {
    const paymentIntentId = row.paymentIntentId!; // the join matched it
    // Outside any transaction: a slow Stripe holds no lock.
    const intent = await deps.stripe.paymentIntents.retrieve(paymentIntentId);
    const entry = { bookingId: row.bookingId, paymentIntentId, processingSince: row.since.toISOString(), stripeStatus: intent.status };
    const days = Math.floor((now.getTime() - row.since.getTime()) / DAY_MS);
    let why = `delayed payment ${paymentIntentId} still ${intent.status} at Stripe after ${days} days; seats still held`;
    try {
      const settled = await settleFromPaymentIntent(deps, intent, { id: `reconciliation:${runId}`, actor: `reconciliation:${runId}` });
      if (settled) {
        logger.warn({ runId, ...entry, outcome: settled }, 'reconciliation: settled a delayed payment from Stripe; its events never reached us');
        found.push({ ...entry, action: 'settled' });
        continue;
      }
    } catch (err) {
      // Stripe has an answer the handlers refused (a payment that names another booking): a human decides.
      logger.error({ err, runId, ...entry }, 'reconciliation: could not apply Stripe\'s answer to a delayed payment');
      why = `delayed payment ${paymentIntentId} is ${intent.status} at Stripe but could not be applied; seats still held`;
    }
    // A booking already flagged keeps its reason: a human is already asked to look at it.
    await deps.db
      .update(bookings)
      .set({ needsAttention: true, attentionReason: why.slice(0, 255) })
      .where(and(eq(bookings.id, row.bookingId), eq(bookings.paymentStatus, 'processing'), eq(bookings.needsAttention, false)));
    found.push({ ...entry, action: 'flagged' });
  }
  return found;
}
