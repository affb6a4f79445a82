import { Worker, type ConnectionOptions, type Job, type Processor } from 'bullmq';
import type { Redis } from 'ioredis';
import { logger } from '../lib/logger.js';
import { runWithContext } from '../lib/request-context.js';
import { captureException } from '../lib/sentry.js';
import { MAINTENANCE_SCHEDULE, runMaintenanceJob } from './maintenance.js';
import { processOutboxJob, type WorkerDeps } from './outbox-processor.js';
import { QUEUES, QUEUE_KEYS, type QueueKey, type Queues } from './queues.js';
import { processWebhookRetry } from './webhook-retry.js';
import { processReconciliation, RECONCILIATION_SCHEDULE } from './reconcile.js';
import { timeJob } from './job-metrics.js';

export interface WorkerOptions {
  /** A connection for blocking commands (createQueueRedis), not the app's Redis client. */
  connection: Redis;
  /** BullMQ key prefix (bullPrefix(REDIS_KEY_PREFIX)). */
  prefix: string;
  /** The queues, for jobs that enqueue others (the relay). */
  queues: Queues;
  /** Register the recurring schedules (default true; tests that drive the clock themselves turn it off). */
  schedules?: boolean;
}

/**
 * Every queue's worker in this process, each with its concurrency and one processor per job type, and
 * the recurring schedules. Each job runs inside a logging context with the id of the request that
 * caused it (or `job:<name>:<id>` for a scheduled one), so one id finds the whole story.
 */
export async function startWorkers(deps: WorkerDeps, opts: WorkerOptions): Promise<{ workers: Record<QueueKey, Worker>; close(): Promise<void> }> {
  const processors: Record<QueueKey, Processor> = {
    email: (job, token) => processOutboxJob(deps, job, token),
    stripe: (job, token) => processOutboxJob(deps, job, token),
    webhookRetry: (job) => processWebhookRetry(deps, job),
    reconciliation: (job) => processReconciliation(deps, job),
    maintenance: (job) => runMaintenanceJob(deps, opts.queues, job.name),
  };
  if (opts.schedules !== false) {
    for (const [name, every] of Object.entries(MAINTENANCE_SCHEDULE)) {
      await opts.queues.maintenance.upsertJobScheduler(name, { every }, { name, opts: { removeOnComplete: 100, removeOnFail: 500 } });
    }
    await opts.queues.reconciliation.upsertJobScheduler(RECONCILIATION_SCHEDULE.id, RECONCILIATION_SCHEDULE.repeat, {
      name: 'reconcile',
      opts: { attempts: 3, backoff: { type: 'exponential', delay: 5 * 60_000 }, removeOnComplete: 100, removeOnFail: 100 },
    });
  }
  const connection = opts.connection as unknown as ConnectionOptions;
  const workers = Object.fromEntries(
    QUEUE_KEYS.map((key) => {
      const { name, concurrency } = QUEUES[key];
      const worker = new Worker(name, (job: Job, token?: string) => runWithContext(jobContext(job), () => timeJob(key, job, () => processors[key](job, token))), {
        connection,
        prefix: opts.prefix,
        concurrency,
        // A dead worker's job is found stalled and run again within about two lock periods.
        lockDuration: deps.config.JOB_LOCK_SECONDS * 1000,
        stalledInterval: deps.config.JOB_LOCK_SECONDS * 1000,
      });
      // A Redis restart surfaces here: BullMQ reconnects by itself; without a listener it would be an
      // unhandled 'error' event and end the process.
      worker.on('error', (err) => logger.warn({ err, queue: name }, 'worker connection error; reconnecting'));
      worker.on('failed', (job, err) => {
        if (!job) return;
        runWithContext(jobContext(job), () => {
          const final = job.finishedOn !== undefined && job.finishedOn > 0;
          logger[final ? 'error' : 'warn']({ err, queue: name, job: job.name, attemptsMade: job.attemptsMade, final }, 'job failed');
          if (final && key === 'maintenance') captureException(err, { queue: name, job: job.name });
        });
      });
      return [key, worker];
    }),
  ) as Record<QueueKey, Worker>;
  return {
    workers,
    async close() {
      await Promise.allSettled(QUEUE_KEYS.map((k) => workers[k].close()));
    },
  };
}

function jobContext(job: Job) {
  const requestId = (job.data as { requestId?: unknown } | undefined)?.requestId;
  return { requestId: typeof requestId === 'string' && requestId ? requestId : `job:${job.name}:${job.id}`, jobId: job.id };
}
