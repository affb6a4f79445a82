import { and, asc, eq, lt, sql } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import { outbox, stripeEvents } from '../db/schema/index.js';
import { logger } from '../lib/logger.js';
import { enqueueOutboxRows } from './dispatcher.js';
import type { Queues } from './queues.js';

/** Left to the hand-off right after the commit for this long before the relay takes a row over. */
const HANDOFF_GRACE_MS = 10_000;
/** An unprocessed Stripe event untouched this long gets a retry job if it has none. */
const STALE_EVENT_MS = 2 * 60_000;

/**
 * The safety net of the hand-off: outbox rows committed but never enqueued (Redis was down at commit
 * time, the process died between the commit and the hand-off) become their BullMQ jobs, and Stripe
 * events left unprocessed without a retry job get one. Rows already handed over are BullMQ's business:
 * the relay never runs a job itself. Job ids make a race with the hand-off harmless.
 */
export async function relayOutbox(deps: Pick<Deps, 'db' | 'clock' | 'jobs'>, queues: Queues, opts: { limit?: number } = {}): Promise<{ enqueued: number; events: number }> {
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
  const events = await deps.db
    .select({ id: stripeEvents.id })
    .from(stripeEvents)
    .where(and(eq(stripeEvents.processed, false), eq(stripeEvents.needsAttention, false), lt(stripeEvents.updatedAt, new Date(now.getTime() - STALE_EVENT_MS))))
    .orderBy(asc(stripeEvents.updatedAt))
    .limit(limit);
  for (const e of events) await deps.jobs.stripeEventFailed(e.id);
  return { enqueued: stranded.length, events: events.length };
}
