import { and, asc, eq, isNotNull, lt, sql } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import { outbox, stripeEvents } from '../db/schema/index.js';
import { logger } from '../lib/logger.js';
import { markOutboxAttemptFailed } from '../services/outbox.js';
import { enqueueOutboxRows } from './dispatcher.js';
import { reportFailedForGood } from './outbox-processor.js';
import { OUTBOX_JOBS, outboxJobId, type Queues } from './queues.js';

/** Left to the hand-off right after the commit for this long before the relay takes a row over. */
const HANDOFF_GRACE_MS = 10_000;
/** A row handed over this long ago (and due as long) that is still pending is checked against its job. */
const ORPHAN_CHECK_MS = 5 * 60_000;
/** An unprocessed Stripe event untouched this long gets a retry job if it has none. */
const STALE_EVENT_MS = 2 * 60_000;

/**
 * The safety net of the hand-off: outbox rows committed but never enqueued (Redis was down at commit
 * time, the process died between the commit and the hand-off) become their BullMQ jobs, and Stripe
 * events left unprocessed without a retry job get one. Rows already handed over are BullMQ's business:
 * the relay never runs a job itself. Job ids make a race with the hand-off harmless.
 */
export async function relayOutbox(deps: Pick<Deps, 'db' | 'clock' | 'jobs'>, queues: Queues, opts: { limit?: number } = {}): Promise<{ enqueued: number; events: number; reEnqueued: number; endedUnrecorded: number }> {
  const now = deps.clock.now();
  const limit = opts.limit ?? 200;
  const stranded = await deps.db
    .select({ id: outbox.id, topic: outbox.topic, requestId: outbox.requestId, availableAt: outbox.availableAt })
    .from(outbox)
    .where(and(eq(outbox.status, 'pending'), sql`${outbox.enqueuedAt} IS NULL`, lt(outbox.createdAt, new Date(now.getTime() - HANDOFF_GRACE_MS))))
    .orderBy(asc(outbox.id))
    .limit(limit);
  if (stranded.length) {
    await enqueueOutboxRows(deps.db, queues, stranded, now.getTime());
    logger.info({ outboxIds: stranded.map((r) => r.id) }, 'outbox rows never handed to the queue are enqueued now');
  }
  const orphans = await repairOrphans(deps, queues, now, limit);
  const events = await deps.db
    .select({ id: stripeEvents.id })
    .from(stripeEvents)
    .where(and(eq(stripeEvents.processed, false), eq(stripeEvents.needsAttention, false), lt(stripeEvents.updatedAt, new Date(now.getTime() - STALE_EVENT_MS))))
    .orderBy(asc(stripeEvents.updatedAt))
    .limit(limit);
  for (const e of events) await deps.jobs.stripeEventFailed(e.id);
  return { enqueued: stranded.length, events: events.length, ...orphans };
}

/**
 * Rows handed to BullMQ whose job can no longer finish them: the job is gone (Redis lost it in a
 * failover) or it ended without the row recording an outcome (it stalled more often than BullMQ allows,
 * or its last bookkeeping failed). A lost job is added again under its id; a job that ended unrecorded
 * turns the row `failed`, reported and flagged, so a human sees it and `npm run outbox:retry` can
 * requeue it. Without this such a refund would wait as `pending` forever.
 */
async function repairOrphans(deps: Pick<Deps, 'db'>, queues: Queues, now: Date, limit: number): Promise<{ reEnqueued: number; endedUnrecorded: number }> {
  const before = new Date(now.getTime() - ORPHAN_CHECK_MS);
  const rows = await deps.db
    .select()
    .from(outbox)
    .where(and(eq(outbox.status, 'pending'), isNotNull(outbox.enqueuedAt), lt(outbox.enqueuedAt, before), lt(outbox.availableAt, before)))
    .orderBy(asc(outbox.id))
    .limit(limit);
  let reEnqueued = 0;
  let endedUnrecorded = 0;
  for (const row of rows) {
    const spec = OUTBOX_JOBS[row.topic as keyof typeof OUTBOX_JOBS];
    if (!spec) continue;
    const job = await queues[spec.queue].getJob(outboxJobId(row.id));
    const state = job ? await job.getState() : 'unknown';
    if (state === 'unknown') {
      await enqueueOutboxRows(deps.db, queues, [row], now.getTime());
      logger.warn({ outboxId: row.id, topic: row.topic }, 'outbox row handed over but its job is gone; enqueued again');
      reEnqueued++;
    } else if (state === 'failed' || state === 'completed') {
      const summary = `job ${state} without recording an outcome${job?.failedReason ? `: ${job.failedReason}` : ''}`;
      const log = { outboxId: row.id, topic: row.topic, jobState: state };
      await reportFailedForGood(deps, row, summary, new Error(summary), log);
      await markOutboxAttemptFailed(deps.db, row.id, summary, { final: true });
      endedUnrecorded++;
    }
  }
  return { reEnqueued, endedUnrecorded };
}
