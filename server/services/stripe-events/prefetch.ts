import { eq } from 'drizzle-orm';
import type Stripe from 'stripe';
import type { Db } from '../../db/types.js';
import { payments } from '../../db/schema/index.js';
import { logger } from '../../lib/logger.js';
import { idOf, type EventOf, type Prefetched } from './context.js';

/**
 * What a handler needs from Stripe's API, read before the transaction opens: a slow Stripe must never
 * hold booking and flight row locks. Each reader is registered beside its handler in index.ts.
 */
export interface PrefetchDeps {
  db: Db;
  stripe: Stripe;
}

/** Reads made while an event waits: short, so a slow Stripe fails the delivery (and Stripe retries). */
const STRIPE_READ_OPTIONS = { timeout: 5000, maxNetworkRetries: 1 };

/**
 * A session event names the payment intent but not the charge, and is often the first event of a
 * payment, so the ledger entry it books would lack the charge. Best effort: one quick GET, and
 * without an answer the entry is booked without the charge id rather than the event failing.
 */
export async function prefetchSessionCharge(
  deps: PrefetchDeps,
  event: EventOf<'checkout.session.completed' | 'checkout.session.async_payment_succeeded'>,
): Promise<Prefetched> {
  const session = event.data.object;
  const paymentIntentId = idOf(session.payment_intent);
  if (!paymentIntentId || session.payment_status !== 'paid') return { chargeId: null };
  try {
    const pi = await deps.stripe.paymentIntents.retrieve(paymentIntentId, {}, { timeout: 3000, maxNetworkRetries: 0 });
    return { chargeId: idOf(pi.latest_charge) };
  } catch (err) {
    logger.warn({ err, paymentIntentId }, 'could not read the charge of a paid session; booking it without');
    return { chargeId: null };
  }
}

/**
 * Payment and refund events name a payment intent; if we have not recorded it yet (its session event
 * has not arrived), ask Stripe which session created it, so the handler can check it is ours.
 */
export async function prefetchPaymentSession(
  deps: PrefetchDeps,
  event: EventOf<'payment_intent.succeeded' | 'charge.succeeded' | 'refund.created' | 'refund.updated'>,
): Promise<Prefetched> {
  const object = event.data.object;
  const paymentIntentId = object.object === 'payment_intent' ? object.id : idOf(object.payment_intent);
  return { sessionId: paymentIntentId ? await sessionOfUnknownPaymentIntent(deps, paymentIntentId) : null };
}

/**
 * charge.refunded: the session check above, and the charge's refunds. Current API versions no longer
 * embed refunds in a charge, so they are listed (a GET, safe to repeat).
 */
export async function prefetchChargeRefunds(deps: PrefetchDeps, event: EventOf<'charge.refunded'>): Promise<Prefetched> {
  const charge = event.data.object;
  const paymentIntentId = idOf(charge.payment_intent);
  const sessionId = paymentIntentId ? await sessionOfUnknownPaymentIntent(deps, paymentIntentId) : null;
  if (charge.refunds?.data && !charge.refunds.has_more) return { sessionId, refunds: charge.refunds.data };
  const refunds: Stripe.Refund[] = [];
  for await (const refund of deps.stripe.refunds.list({ charge: charge.id, limit: 100 }, STRIPE_READ_OPTIONS)) refunds.push(refund);
  return { sessionId, refunds };
}

/**
 * A payment intent we have not seen yet (its session event has not arrived): which Checkout Session
 * created it, so the handler can check that session is one we opened. Null when we already know it.
 */
async function sessionOfUnknownPaymentIntent(deps: PrefetchDeps, paymentIntentId: string): Promise<string | null> {
  const [known] = await deps.db.select({ id: payments.id }).from(payments).where(eq(payments.stripePaymentIntentId, paymentIntentId)).limit(1);
  if (known) return null;
  const list = await deps.stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 }, STRIPE_READ_OPTIONS);
  return list.data[0]?.id ?? null;
}
