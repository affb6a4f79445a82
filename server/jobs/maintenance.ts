import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Deps } from '../deps.js';
import { logger } from '../lib/logger.js';
import { runWithContext } from '../lib/request-context.js';
import { captureException } from '../lib/sentry.js';
import { expireLapsedHolds } from '../services/bookings.js';
import { deleteExpiredIdempotencyKeys } from '../services/idempotency.js';
import { relayOutbox } from './outbox-relay.js';

/**
 * The maintenance queue: recurring jobs scheduled with BullMQ job schedulers, so however many worker
 * processes run, each tick runs once.
 */
export const MAINTENANCE_QUEUE = 'maintenance';

export const MAINTENANCE_SCHEDULE = {
  'outbox-relay': 5_000,
  'expire-holds': 60_000,
  'cleanup-idempotency': 60 * 60_000,
} as const;
export type MaintenanceJob = keyof typeof MAINTENANCE_SCHEDULE;

export interface QueueConnection {
  /** A connection for blocking commands (createQueueRedis), not the app's Redis client. */
  connection: Redis;
  /** BullMQ key prefix (REDIS_KEY_PREFIX + 'bull'). */
  prefix: string;
}

export async function runMaintenanceJob(deps: Deps, name: string): Promise<unknown> {
  switch (name as MaintenanceJob) {
    case 'outbox-relay':
      return relayOutbox(deps);
    case 'expire-holds':
      return { expired: (await expireLapsedHolds(deps)).length };
    case 'cleanup-idempotency':
      return { deleted: await deleteExpiredIdempotencyKeys(deps) };
    default:
      throw new Error(`unknown maintenance job ${name}`);
  }
}

export async function startMaintenance(deps: Deps, queueRedis: QueueConnection): Promise<{ close(): Promise<void> }> {
  const connection = queueRedis.connection as unknown as ConnectionOptions;
  const { prefix } = queueRedis;
  const queue = new Queue(MAINTENANCE_QUEUE, { connection, prefix });
  for (const [name, every] of Object.entries(MAINTENANCE_SCHEDULE)) {
    await queue.upsertJobScheduler(name, { every }, { name, opts: { removeOnComplete: 100, removeOnFail: 500 } });
  }
  const worker = new Worker(
    MAINTENANCE_QUEUE,
    (job) =>
      runWithContext({ requestId: `job:${job.name}:${job.id}`, jobId: job.id }, async () => {
        const result = await runMaintenanceJob(deps, job.name);
        logger.debug({ job: job.name, result }, 'maintenance job done');
        return result;
      }),
    { connection, prefix, concurrency: 1 },
  );
  worker.on('failed', (job, err) => {
    logger.error({ err, job: job?.name, jobId: job?.id }, 'maintenance job failed');
    captureException(err, { job: job?.name });
  });
  return {
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}
