import { UnrecoverableError, type Job } from 'bullmq';
import { and, eq } from 'drizzle-orm';
import type Stripe from 'stripe';
import type { Deps } from '../deps.js';
import { stripeEvents } from '../db/schema/index.js';
import { logger } from '../lib/logger.js';
import { captureException } from '../lib/sentry.js';
import { handleStripeEvent } from '../services/stripe-events/index.js';
import type { WebhookRetryJobData } from './queues.js';

/**
 * Re-drives a Stripe event stored unprocessed after a failure a retry may cure: the stored payload
 * (verified when it arrived) goes through the same processor, under the same row lock and transaction
 * rules as a delivery. Stripe's own redelivery stays safe beside it: whichever runs first processes the
 * event, the other finds it done. Still failing after the last attempt: flagged `needs_attention`.
 */
export async function processWebhookRetry(deps: Pick<Deps, 'db' | 'redis' | 'stripe' | 'clock' | 'jobs'>, job: Job<WebhookRetryJobData>): Promise<unknown> {
  const { eventId } = job.data;
  const [row] = await deps.db
    .select({ payload: stripeEvents.payload, processed: stripeEvents.processed })
    .from(stripeEvents)
    .where(eq(stripeEvents.id, eventId));
  if (!row) return { skipped: 'no such event' };
  if (row.processed) return { skipped: 'already processed' };
  const outcome = await handleStripeEvent(deps, row.payload as Stripe.Event);
  if (outcome !== 'failed') return { outcome };
  const [after] = await deps.db.select({ lastError: stripeEvents.lastError }).from(stripeEvents).where(eq(stripeEvents.id, eventId));
  const message = `stripe event ${eventId} still failing: ${after?.lastError ?? 'unknown error'}`;
  if (job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw new Error(message);
  await deps.db
    .update(stripeEvents)
    .set({ needsAttention: true })
    .where(and(eq(stripeEvents.id, eventId), eq(stripeEvents.processed, false)));
  const err = new Error(message);
  logger.error({ stripeEventId: eventId, attempts: job.attemptsMade + 1 }, 'stripe event still failing after its last retry; flagged for attention');
  captureException(err, { stripeEventId: eventId });
  throw new UnrecoverableError(message);
}
