import { and, eq, lte } from 'drizzle-orm';
import { bookings, outbox } from '../db/schema/index.js';
import { logger } from '../lib/logger.js';
import { captureException } from '../lib/sentry.js';
import { isTransientStripeError, stripeErrorSummary } from '../lib/stripe.js';
import { markOutboxAttemptFailed, markOutboxDone, type OutboxPayloads } from '../services/outbox.js';
import { expireStripeSession, requestStripeRefund, type StripeJobDeps } from './stripe-calls.js';

/**
 * One attempt at one outbox job: lease the row, make its Stripe call, record the outcome. Used right
 * after the commit that recorded the job, and by the worker's relay for every retry. Success marks it
 * done; a failure a retry may cure leaves it pending for the relay; any other failure marks it failed
 * and flags the booking for a human. Never throws: the caller's own change has already committed.
 */
export async function attemptOutboxJob(deps: StripeJobDeps, outboxId: number): Promise<'done' | 'retry' | 'failed' | 'skipped'> {
  try {
    return await runJob(deps, outboxId);
  } catch (err) {
    // The database itself failed us: the row stays pending and the worker picks it up later.
    logger.error({ err, outboxId }, 'could not run an outbox job; left for the worker');
    return 'retry';
  }
}

/** How long a job being run is left alone by every other runner (the inline call, other workers). */
const LEASE_MS = 60_000;

async function runJob(deps: StripeJobDeps, outboxId: number): Promise<'done' | 'retry' | 'failed' | 'skipped'> {
  const [job] = await deps.db.select().from(outbox).where(eq(outbox.id, outboxId));
  if (!job || job.status !== 'pending') return 'skipped';
  // Lease it with a conditional UPDATE: only a due row (available_at <= now) can be leased, and the
  // lease moves available_at into the future, so of two runners exactly one gets affectedRows 1 and a
  // row backing off after a failure is not run early.
  const now = deps.clock.now();
  const [lease] = await deps.db
    .update(outbox)
    .set({ availableAt: new Date(now.getTime() + LEASE_MS) })
    .where(and(eq(outbox.id, job.id), eq(outbox.status, 'pending'), lte(outbox.availableAt, now)));
  if (lease.affectedRows !== 1) return 'skipped';
  try {
    switch (job.topic) {
      case 'stripe_refund':
        await requestStripeRefund(deps, job.payload as OutboxPayloads['stripe_refund']);
        break;
      case 'stripe_expire_session':
        await expireStripeSession(deps, job.payload as OutboxPayloads['stripe_expire_session']);
        break;
      default:
        return 'skipped'; // e-mails and the like belong to the worker
    }
    await markOutboxDone(deps.db, job.id);
    return 'done';
  } catch (err) {
    const summary = stripeErrorSummary(err);
    if (isTransientStripeError(err)) {
      logger.warn({ err, outboxId: job.id, topic: job.topic }, 'Stripe call failed; the worker will retry it');
      await markOutboxAttemptFailed(deps.db, job.id, summary).catch(() => undefined);
      return 'retry';
    }
    logger.error({ err, outboxId: job.id, topic: job.topic }, 'Stripe refused the call; flagged for attention');
    captureException(err, { outboxId: job.id, topic: job.topic });
    await markOutboxAttemptFailed(deps.db, job.id, summary, { permanent: true }).catch(() => undefined);
    const bookingId = (job.payload as { bookingId?: number }).bookingId;
    if (bookingId) {
      await deps.db
        .update(bookings)
        .set({ needsAttention: true, attentionReason: `${job.topic} failed: ${summary}`.slice(0, 255) })
        .where(eq(bookings.id, bookingId))
        .catch(() => undefined);
    }
    return 'failed';
  }
}
