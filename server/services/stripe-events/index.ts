import { and, eq, sql } from 'drizzle-orm';
import type Stripe from 'stripe';
import type { Db, Tx } from '../../db/types.js';
import type { Deps } from '../../deps.js';
import { stripeEvents } from '../../db/schema/index.js';
import { outboxRecordedIn } from '../outbox.js';
import { logger } from '../../lib/logger.js';
import { isTransientDbError } from '../../lib/errors.js';
import { isTransientStripeError } from '../../lib/stripe.js';
import { captureException } from '../../lib/sentry.js';
import { PermanentEventError, type EventOf, type HandlerContext, type Prefetched } from './context.js';
import { prefetchChargeRefunds, prefetchPaymentSession, prefetchSessionCharge, type PrefetchDeps } from './prefetch.js';
import { onChargeSucceeded, onPaymentIntentFailed, onPaymentIntentSucceeded, onSessionExpired, onSessionPaidOrPending, onSessionPaymentFailed } from './payments.js';
import { onChargeRefunded, onRefundEvent } from './refunds.js';
import { withSearchInvalidation } from '../search-cache.js';

export { PermanentEventError } from './context.js';

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
 *
 * Layout: ownership.ts (which booking an event is about, and whether it is ours), prefetch.ts (reads
 * from Stripe before the transaction), payments.ts (money in), refunds.ts (money back).
 */

export type EventOutcome = 'processed' | 'duplicate' | 'ignored' | 'flagged' | 'failed';

interface EventHandler<T extends Stripe.Event.Type> {
  /** Reads from Stripe's API, made before the transaction opens. */
  prefetch?: (deps: PrefetchDeps, event: EventOf<T>) => Promise<Prefetched>;
  /** Runs inside the event's transaction; 'ignored' when the event turns out not to concern us. */
  handle: (ctx: HandlerContext, event: EventOf<T>) => Promise<'processed' | 'ignored'>;
}

/** The events we act on; any other type is stored, marked processed and answered 200 ('ignored'). */
const HANDLERS: { [T in Stripe.Event.Type]?: EventHandler<T> } = {
  'checkout.session.completed': { prefetch: prefetchSessionCharge, handle: onSessionPaidOrPending },
  'checkout.session.async_payment_succeeded': { prefetch: prefetchSessionCharge, handle: onSessionPaidOrPending },
  'checkout.session.async_payment_failed': { handle: onSessionPaymentFailed },
  'checkout.session.expired': { handle: onSessionExpired },
  'payment_intent.succeeded': { prefetch: prefetchPaymentSession, handle: onPaymentIntentSucceeded },
  'payment_intent.payment_failed': { handle: onPaymentIntentFailed },
  'charge.succeeded': { prefetch: prefetchPaymentSession, handle: onChargeSucceeded },
  'charge.refunded': { prefetch: prefetchChargeRefunds, handle: onChargeRefunded },
  'refund.created': { prefetch: prefetchPaymentSession, handle: onRefundEvent },
  'refund.updated': { prefetch: prefetchPaymentSession, handle: onRefundEvent },
};

/** The event types we act on: what the reconciliation asks Stripe's event list for. */
export const HANDLED_EVENT_TYPES = Object.keys(HANDLERS) as Stripe.Event.Type[];

/** Indexed by a type parameter, so the handler and the event are known to be of the same type. */
function handlerFor<T extends Stripe.Event.Type>(type: T): EventHandler<T> | undefined {
  return HANDLERS[type];
}

/** Retries of an unexplained failure after which the event is flagged for a human (it still gets 500). */
const FLAG_AFTER_RETRIES = 3;

export async function handleStripeEvent(deps: Pick<Deps, 'db' | 'redis' | 'stripe' | 'clock' | 'jobs'>, event: Stripe.Event): Promise<EventOutcome> {
  const log = logger.child({ stripeEventId: event.id, stripeEventType: event.type });
  await deps.db
    .insert(stripeEvents)
    .ignore()
    .values({
      id: event.id,
      type: event.type,
      apiVersion: event.api_version ?? null,
      stripeCreatedAt: new Date(event.created * 1000),
      payload: event,
    });

  // Cheap early answer for a redelivery, before any call to Stripe: an event processed before is
  // 200 whether or not Stripe can be reached right now. (The authoritative check is under the lock.)
  const [seen] = await deps.db.select({ processed: stripeEvents.processed }).from(stripeEvents).where(eq(stripeEvents.id, event.id));
  if (seen?.processed) {
    log.info({ outcome: 'duplicate' }, 'stripe event handled');
    return 'duplicate';
  }

  const handler = handlerFor(event.type);
  try {
    const prefetched = (await handler?.prefetch?.(deps, event)) ?? {};
    let handlerTx: Tx | undefined;
    // Refunds, late payments and failures give seats back or take them: their searches miss after the commit.
    const outcome = await withSearchInvalidation(deps, () => deps.db.transaction(async (tx) => {
      handlerTx = tx;
      const [row] = await tx
        .select({ processed: stripeEvents.processed })
        .from(stripeEvents)
        .where(eq(stripeEvents.id, event.id))
        .for('update');
      if (!row) throw new Error(`stripe event ${event.id} vanished after insert`);
      if (row.processed) return 'duplicate' as const;
      const now = deps.clock.now();
      const handled = handler ? await handler.handle({ tx, eventId: event.id, actor: `stripe:${event.id}`, prefetched, now }, event) : 'ignored';
      await tx.update(stripeEvents).set({ processed: true, processedAt: now, lastError: null }).where(eq(stripeEvents.id, event.id));
      return handled;
    }));
    log.info({ outcome }, 'stripe event handled');
    // Committed: the jobs its handlers recorded (a confirmation e-mail, a refund) go to the queues now.
    if (handlerTx) await deps.jobs.outboxCommitted(outboxRecordedIn(handlerTx));
    return outcome;
  } catch (err) {
    const failure = await recordFailure(deps.db, event, err, log);
    // Re-driven by the worker from the stored payload (webhook-retry queue), whether or not Stripe redelivers.
    if (failure === 'failed') await deps.jobs.stripeEventFailed(event.id);
    return failure;
  }
}

/** Outside the rolled-back transaction, so the failure itself is never lost. */
async function recordFailure(db: Db, event: Stripe.Event, err: unknown, log: typeof logger): Promise<'flagged' | 'failed'> {
  const permanent = err instanceof PermanentEventError;
  const message = rootCauseMessage(err).slice(0, 2000);
  const [row] = await db
    .select({ retryCount: stripeEvents.retryCount })
    .from(stripeEvents)
    .where(eq(stripeEvents.id, event.id))
    .catch(() => [undefined]);
  const retries = (row?.retryCount ?? 0) + 1;
  // An unexplained (not transient) failure keeps answering 500, since a fix deployed later can cure
  // it while Stripe still retries; past a few retries a human is asked to look.
  const needsAttention = permanent || (!isTransient(err) && retries >= FLAG_AFTER_RETRIES);
  await db
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

function isTransient(err: unknown): boolean {
  return isTransientDbError(err) || isTransientStripeError(err);
}

/** drizzle wraps driver errors in "Failed query: <sql> params: ..."; the cause says what went wrong. */
function rootCauseMessage(err: unknown): string {
  let cur: unknown = err;
  while (cur instanceof Error && cur.cause instanceof Error) cur = cur.cause;
  const code = (cur as { code?: unknown })?.code;
  const text = cur instanceof Error ? cur.message : String(cur);
  return typeof code === 'string' ? `${code}: ${text}` : text;
}
