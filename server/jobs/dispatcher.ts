import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '../db/types.js';
import { outbox } from '../db/schema/index.js';
import { logger } from '../lib/logger.js';
import { currentRequestId } from '../lib/request-context.js';
import type { JobDispatcher } from '../services/job-dispatcher.js';
import { markOutboxEnqueued } from '../services/outbox.js';
import { createProducerRedis } from '../lib/redis.js';
import { withTimeout } from '../lib/timeout.js';
import { bullPrefix, createQueues, OUTBOX_JOBS, outboxJobId, WEBHOOK_RETRY, webhookRetryJobId, type OutboxJobData, type Queues, type WebhookRetryJobData } from './queues.js';

type OutboxRef = Pick<typeof outbox.$inferSelect, 'id' | 'topic' | 'requestId' | 'availableAt'>;

/**
 * Adds outbox rows to their queues as job `outbox-<id>`, then notes them enqueued. BullMQ refuses a
 * second job with an id it holds, so the API's hand-off and the relay's sweep racing for one row make
 * one job. Throws when Redis cannot take them (the caller decides who tries next).
 */
export async function enqueueOutboxRows(db: Db, queues: Queues, rows: readonly OutboxRef[], now = Date.now()): Promise<void> {
  for (const row of rows) {
    const spec = OUTBOX_JOBS[row.topic as keyof typeof OUTBOX_JOBS];
    if (!spec) {
      logger.error({ outboxId: row.id, topic: row.topic }, 'outbox row of an unknown topic; left pending');
      continue;
    }
    const data: OutboxJobData = { outboxId: row.id, topic: row.topic as OutboxJobData['topic'], requestId: row.requestId };
    await queues[spec.queue].add(row.topic, data, { ...spec.opts, jobId: outboxJobId(row.id), delay: Math.max(0, row.availableAt.getTime() - now) });
  }
  await markOutboxEnqueued(db, rows.map((r) => r.id));
}

/** How long a request waits for Redis to take its jobs before leaving them to the relay (BullMQ waits for a connection that may never come). */
const HANDOFF_TIMEOUT_MS = 2_000;

/** The BullMQ side of the services' JobDispatcher: what the API and the worker hand to `deps.jobs`. */
export function createJobDispatcher(db: Db, queues: Queues): JobDispatcher {
  return {
    async outboxCommitted(outboxIds) {
      if (!outboxIds.length) return;
      try {
        const rows = await db
          .select({ id: outbox.id, topic: outbox.topic, requestId: outbox.requestId, availableAt: outbox.availableAt })
          .from(outbox)
          .where(and(inArray(outbox.id, [...outboxIds]), eq(outbox.status, 'pending')));
        await withTimeout(enqueueOutboxRows(db, queues, rows), HANDOFF_TIMEOUT_MS, 'handing outbox rows to the job queue');
      } catch (err) {
        // Committed and safe in the table: the worker's relay sweeps rows never enqueued.
        logger.warn({ err, outboxIds }, 'could not hand outbox rows to the job queue; the relay will');
      }
    },
    async stripeEventFailed(eventId) {
      try {
        const data: WebhookRetryJobData = { eventId, requestId: currentRequestId() ?? null };
        const schedule = async () => {
          // A retry job that failed without flagging the event (it stalled out) would keep its id and
          // make this add a no-op for a week: make room for a fresh one.
          const previous = await queues.webhookRetry.getJob(webhookRetryJobId(eventId));
          if (previous && (await previous.isFailed())) await previous.remove();
          await queues.webhookRetry.add('retry-stripe-event', data, { ...WEBHOOK_RETRY.opts, jobId: webhookRetryJobId(eventId), delay: WEBHOOK_RETRY.firstDelayMs });
        };
        await withTimeout(schedule(), HANDOFF_TIMEOUT_MS, 'scheduling a stripe event retry');
      } catch (err) {
        // Stripe redelivers, the relay's sweep and the reconciliation find unprocessed events too.
        logger.warn({ err, stripeEventId: eventId }, 'could not schedule the retry of a stripe event; the relay will');
      }
    },
  };
}

/**
 * The producer side of the job system for one process: its own fail-fast connection, the queues and the
 * dispatcher handed to services as `deps.jobs`.
 */
export function connectJobs(db: Db, redisUrl: string, redisKeyPrefix: string): { queues: Queues; dispatcher: JobDispatcher; close(): Promise<void> } {
  const connection = createProducerRedis(redisUrl);
  connection.on('error', (err) => logger.warn({ err }, 'job queue connection error; reconnecting'));
  const queues = createQueues(connection, bullPrefix(redisKeyPrefix));
  return {
    queues,
    dispatcher: createJobDispatcher(db, queues),
    async close() {
      await withTimeout(queues.close(), HANDOFF_TIMEOUT_MS, 'closing the job queues').catch(() => undefined);
      connection.disconnect();
    },
  };
}
