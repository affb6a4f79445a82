import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { eq } from 'drizzle-orm';
import Stripe from 'stripe';
import type { Deps } from '../deps.js';
import { bookings, outbox } from '../db/schema/index.js';
import { logger } from '../lib/logger.js';
import { captureException } from '../lib/sentry.js';
import { isTransientStripeError, stripeErrorSummary } from '../lib/stripe.js';
import { sendBookingConfirmation } from '../services/email/send-booking-confirmation.js';
import type { Mailer } from '../services/email/transport.js';
import { markOutboxAttemptFailed, markOutboxDone, type OutboxPayloads, type OutboxTopic } from '../services/outbox.js';
import type { OutboxJobData } from './queues.js';
import { expireStripeSession, requestStripeRefund } from './stripe-calls.js';

/** What the worker's processors receive: the usual dependencies and the process's one mailer. */
export type WorkerDeps = Deps & { mailer: Mailer };

/** A failure no retry cures: the row becomes `failed` at once and BullMQ stops trying. */
class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError';
}

type Runner<K extends OutboxTopic> = (deps: WorkerDeps, payload: OutboxPayloads[K], job: Job<OutboxJobData>, token?: string) => Promise<unknown>;

const RUNNERS: { [K in OutboxTopic]: Runner<K> } = {
  async send_booking_confirmation(deps, payload, job, token) {
    const result = await sendBookingConfirmation(deps, payload);
    if (result.outcome === 'in_progress') {
      // Another sender holds the claim (or died holding it): come back when its lease runs out,
      // without spending one of this job's attempts.
      await job.moveToDelayed(result.retryAt.getTime() + 1000, token);
      throw new DelayedError();
    }
    if (result.outcome === 'failed') throw new PermanentJobError(`SMTP server refused the confirmation: ${result.error}`);
    return result;
  },
  stripe_refund: async (deps, payload) => requestStripeRefund(deps, payload),
  stripe_expire_session: async (deps, payload) => expireStripeSession(deps, payload),
};

function run<K extends OutboxTopic>(topic: K, deps: WorkerDeps, payload: unknown, job: Job<OutboxJobData>, token?: string): Promise<unknown> {
  return (RUNNERS[topic] as Runner<K>)(deps, payload as OutboxPayloads[K], job, token);
}

/** Stripe refused the call itself (a 4xx other than a conflict): asking again gets the same answer. */
function isPermanent(err: unknown): boolean {
  if (err instanceof PermanentJobError) return true;
  return err instanceof Stripe.errors.StripeError && !isTransientStripeError(err);
}

/**
 * Runs one outbox row for BullMQ job `outbox-<id>` (the e-mail and Stripe queues). A row that is no
 * longer pending was done by an earlier run: nothing happens. Success marks the row done. A failure
 * is recorded on the row and thrown, so BullMQ retries with its back-off; after the last attempt, or
 * for an error no retry cures, the row becomes `failed`, is logged and reported, and its booking is
 * flagged for a human.
 */
export async function processOutboxJob(deps: WorkerDeps, job: Job<OutboxJobData>, token?: string): Promise<unknown> {
  const [row] = await deps.db.select().from(outbox).where(eq(outbox.id, job.data.outboxId));
  if (!row) return { skipped: 'no such outbox row' };
  if (row.status !== 'pending') return { skipped: `row is ${row.status}` };
  const log = { outboxId: row.id, topic: row.topic, attempt: job.attemptsMade + 1 };
  try {
    const result = await run(row.topic as OutboxTopic, deps, row.payload, job, token);
    await markOutboxDone(deps.db, row.id);
    logger.info(log, 'outbox job done');
    return result ?? { done: true };
  } catch (err) {
    if (err instanceof DelayedError) throw err;
    const permanent = isPermanent(err);
    const final = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const summary = stripeErrorSummary(err);
    if (!final) {
      await markOutboxAttemptFailed(deps.db, row.id, summary, { final });
      logger.warn({ ...log, err }, 'outbox job failed; BullMQ will retry it');
      throw err;
    }
    // The booking is flagged before the row says `failed`, so whoever sees the failed row sees the flag.
    await reportFailedForGood(deps, row, summary, err, log);
    await markOutboxAttemptFailed(deps.db, row.id, summary, { final });
    throw new UnrecoverableError(summary);
  }
}

/** Logs, reports and flags an outbox row that failed for good (the relay uses it for a job that ended unrecorded). */
export async function reportFailedForGood(deps: Pick<Deps, 'db'>, row: typeof outbox.$inferSelect, summary: string, err: unknown, log: Record<string, unknown>) {
  logger.error({ ...log, err }, 'outbox job failed for good; flagged for attention (npm run outbox:retry -- <id> requeues it)');
  captureException(err, { outboxId: row.id, topic: row.topic });
  const bookingId = (row.payload as { bookingId?: number }).bookingId;
  if (bookingId) {
    await deps.db
      .update(bookings)
      .set({ needsAttention: true, attentionReason: `${row.topic} failed: ${summary}`.slice(0, 255) })
      .where(eq(bookings.id, bookingId))
      .catch((e: unknown) => logger.error({ err: e, bookingId }, 'could not flag the booking of a failed outbox job'));
  }
}
