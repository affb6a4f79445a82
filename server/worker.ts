import { env } from './env.js';
import { logger } from './lib/logger.js';
import { initSentry, flushSentry } from './lib/sentry.js';
import { installProcessHandlers } from './lib/process-handlers.js';
import { createDatabase } from './db/client.js';
import { createQueueRedis, createRedis } from './lib/redis.js';
import { createStripe } from './lib/stripe.js';
import { systemClock } from './deps.js';
import { createMailer } from './services/email/transport.js';
import { connectJobs } from './jobs/dispatcher.js';
import { bullPrefix } from './jobs/queues.js';
import type { WorkerDeps } from './jobs/outbox-processor.js';
import { startWorkers } from './jobs/workers.js';
import { startWorkerHeartbeat } from './lib/worker-heartbeat.js';
import { processRegistry } from './lib/metrics.js';
import { startWorkerMetricsServer } from './http/worker-metrics.js';
import { queueGauges } from './jobs/job-metrics.js';

/**
 * BullMQ worker entrypoint, a separate process from the API, and its composition root. Its queues are
 * listed in server/jobs/queues.ts, the recurring jobs in server/jobs/maintenance.ts.
 */
initSentry('worker', env);
installProcessHandlers('worker');

const database = createDatabase(env.DATABASE_URL, { connectionLimit: 10 });
// The app's Redis connects on first use; BullMQ's workers get their own blocking connection, and the
// queues they add jobs to a fail-fast one (connectJobs).
const redis = createRedis(env.REDIS_URL, { keyPrefix: env.REDIS_KEY_PREFIX || undefined, lazyConnect: true });
redis.on('error', (err) => logger.warn({ err }, 'redis connection error; reconnecting'));
const connection = createQueueRedis(env.REDIS_URL);
connection.on('error', (err) => logger.warn({ err }, 'worker redis connection error; reconnecting'));
const stripe = createStripe(env.STRIPE_SECRET_KEY, env.STRIPE_API_BASE);
const mailer = createMailer(env, logger);
const jobs = connectJobs(database.db, env.REDIS_URL, env.REDIS_KEY_PREFIX);
const deps: WorkerDeps = { db: database.db, redis, stripe, config: env, clock: systemClock, logger, jobs: jobs.dispatcher, mailer };
const workers = await startWorkers(deps, { connection, prefix: bullPrefix(env.REDIS_KEY_PREFIX), queues: jobs.queues });

// The API's readiness probe reads this (http/health.ts): renewed every 15 s, stale after 60 s.
const heartbeat = startWorkerHeartbeat(redis, systemClock, (err) => logger.warn({ err }, 'could not renew the worker heartbeat'));

const metricsServer = await startWorkerMetricsServer({ port: env.WORKER_METRICS_PORT, token: env.METRICS_TOKEN, registries: [processRegistry, queueGauges(jobs.queues)] });

logger.info('worker started');

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info({ signal }, 'worker shutting down: finishing the current jobs');
  // A hard deadline, kept referenced, in case a job or a connection hangs.
  setTimeout(() => {
    logger.error('worker shutdown did not finish within 30 s; exiting');
    process.exit(1);
  }, 30_000);
  heartbeat.stop();
  await metricsServer.close();
  await workers.close().catch((err: unknown) => logger.error({ err }, 'error closing the workers'));
  await jobs.close().catch((err: unknown) => logger.error({ err }, 'error closing the queues'));
  await Promise.allSettled([database.close(), connection.quit()]);
  connection.disconnect();
  redis.disconnect();
  mailer.close();
  await flushSentry();
  logger.info('worker stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
