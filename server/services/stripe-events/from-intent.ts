import { and, eq } from 'drizzle-orm';
import type Stripe from 'stripe';
import { payments } from '../../db/schema/index.js';
import type { Tx } from '../../db/types.js';
import type { Deps } from '../../deps.js';
import { outboxRecordedIn } from '../outbox.js';
import { withSearchInvalidation } from '../search-cache.js';
import type { HandlerContext } from './context.js';
import { paymentIntentFailed, paymentIntentSucceeded } from './payments.js';

/**
 * A delayed payment whose outcome never reached us as an event (lost, or older than the 30 days Stripe
 * keeps events): settled from its payment intent as Stripe reports it now, by the same handlers a
 * webhook's event runs, in one transaction of the same shape. So the ledger entry, the state change,
 * the seats and the confirmation e-mail are exactly what the event would have made, and an event
 * arriving later (or concurrently) finds the work done: the ledger's movement key and the booking's
 * compare-and-set transitions see to that.
 */

export type FinalOutcome = 'succeeded' | 'failed';

/** What Stripe's payment intent says for certain, or null when it has no final answer yet. */
export function finalOutcomeOf(pi: Stripe.PaymentIntent): FinalOutcome | null {
  if (pi.status === 'succeeded') return 'succeeded';
  if (pi.status === 'canceled') return 'failed';
  // A bounced debit moves the intent back to requires_payment_method with the bank's error; the
  // Checkout Session that created it is complete and takes no other payment.
  if (pi.status === 'requires_payment_method' && pi.last_payment_error) return 'failed';
  return null;
}

/**
 * Applies Stripe's final answer for `pi`; null (nothing done) when it has none. Call it outside any
 * transaction, with the intent just read from Stripe. `source` names who settled it: the ledger's
 * event column and the booking's audit trail carry it in place of an event id.
 */
export async function settleFromPaymentIntent(
  deps: Pick<Deps, 'db' | 'redis' | 'clock' | 'jobs'>,
  pi: Stripe.PaymentIntent,
  source: { id: string; actor: string },
): Promise<FinalOutcome | null> {
  const outcome = finalOutcomeOf(pi);
  if (!outcome) return null;
  let handlerTx: Tx | undefined;
  await withSearchInvalidation(deps, () =>
    deps.db.transaction(async (tx) => {
      handlerTx = tx;
      const ctx: HandlerContext = { tx, eventId: source.id, actor: source.actor, prefetched: {}, now: deps.clock.now() };
      if (outcome === 'succeeded') {
        await paymentIntentSucceeded(ctx, pi);
        return;
      }
      await paymentIntentFailed(ctx, pi, `delayed payment failed at Stripe (${pi.status}); its events never reached us`);
      // What checkout.session.async_payment_failed would have recorded on the attempt.
      await tx.update(payments).set({ status: 'failed' }).where(and(eq(payments.stripePaymentIntentId, pi.id), eq(payments.status, 'processing')));
    }),
  );
  if (handlerTx) await deps.jobs.outboxCommitted(outboxRecordedIn(handlerTx));
  return outcome;
}
