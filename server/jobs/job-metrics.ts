import { DelayedError, type Job } from 'bullmq';
import { Gauge, Registry } from 'prom-client';
import { logger } from '../lib/logger.js';
import { jobDuration } from '../lib/metrics.js';
import { cachedLoader } from '../lib/timeout.js';
import { QUEUES, QUEUE_KEYS, type QueueKey, type Queues } from './queues.js';

/**
 * The worker's job metrics. `queue` labels use the key of server/jobs/queues.ts (`email`, `stripe`,
 * `maintenance`, ...), not BullMQ's hash-tagged name.
 */

/**
 * One run of a job, timed into job_duration_seconds{queue, name, outcome}: `completed`, `failed`, or
 * `delayed` when the processor put the job back on purpose (a DelayedError is not a failure).
 */
export async function timeJob<T>(queue: QueueKey, job: Job, run: () => Promise<T>): Promise<T> {
  const stop = jobDuration.startTimer({ queue, name: job.name });
  try {
    const result = await run();
    stop({ outcome: 'completed' });
    return result;
  } catch (err) {
    stop({ outcome: err instanceof DelayedError ? 'delayed' : 'failed' });
    throw err;
  }
}

export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * queue_jobs{queue, state}, read from Redis on scrape: at most one read at a time, reused for 5 s,
 * waited for at most 1 s (the last values stay when Redis is slow).
 */
export function queueGauges(queues: Queues): Registry {
  const registry = new Registry();
  const counts = cachedLoader(
    async () => Promise.all(QUEUE_KEYS.map(async (key) => [key, await queues[key].getJobCounts(...QUEUE_STATES)] as const)),
    { ttlMs: 5000, timeoutMs: 1000, what: 'queue_jobs' },
  );
  new Gauge({
    name: 'queue_jobs',
    help: `Jobs per queue (${QUEUE_KEYS.map((k) => `${k} = ${QUEUES[k].name}`).join(', ')}) and state`,
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      const perQueue = await counts().catch((err: unknown) => {
        logger.warn({ err }, 'metrics: could not read the queue counts; serving the last values');
        return undefined;
      });
      for (const [queue, byState] of perQueue ?? []) for (const state of QUEUE_STATES) this.set({ queue, state }, byState[state] ?? 0);
    },
  });
  return registry;
}
