import { env } from './env.js';
import { logger } from './lib/logger.js';
import { initSentry, flushSentry } from './lib/sentry.js';
import { createDatabase } from './db/client.js';
import { createQueueRedis, createRedis } from './lib/redis.js';
import { createStripe } from './lib/stripe.js';
import { systemClock, type Deps } from './deps.js';
import { startMaintenance } from './jobs/maintenance.js';
import { startWorkerHeartbeat } from './lib/worker-heartbeat.js';
import { processRegistry } from './lib/metrics.js';
import { startWorkerMetricsServer } from './http/worker-metrics.js';

/**
 * BullMQ worker entrypoint, a separate process from the API, and its composition root. The jobs it
 * runs are listed in server/jobs/maintenance.ts (MAINTENANCE_SCHEDULE).
 */
initSentry('worker');

const database = createDatabase(env.DATABASE_URL, { connectionLimit: 10 });
// The app's Redis connects on first use (no job needs it yet); BullMQ gets its own blocking connection.
const redis = createRedis(env.REDIS_URL, { keyPrefix: env.REDIS_KEY_PREFIX || undefined, lazyConnect: true });
const connection = createQueueRedis(env.REDIS_URL);
const stripe = createStripe(env.STRIPE_SECRET_KEY, env.STRIPE_API_BASE);
const deps: Deps = { db: database.db, redis, stripe, config: env, clock: systemClock, logger };
const maintenance = await startMaintenance(deps, { connection, prefix: `${env.REDIS_KEY_PREFIX}bull` });

// The API's readiness probe reads this (http/health.ts): renewed every 15 s, stale after 60 s.
const heartbeat = startWorkerHeartbeat(redis, systemClock, (err) => logger.warn({ err }, 'could not renew the worker heartbeat'));

const metricsServer = await startWorkerMetricsServer({ port: env.WORKER_METRICS_PORT, token: env.METRICS_TOKEN, registries: [processRegistry] });

logger.info('worker started');

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info({ signal }, 'worker shutting down: finishing the current job');
  // A hard deadline, kept referenced, in case a job or a connection hangs.
  setTimeout(() => {
    logger.error('worker shutdown did not finish within 30 s; exiting');
    process.exit(1);
  }, 30_000);
  heartbeat.stop();
  await metricsServer.close();
  await maintenance.close().catch((err: unknown) => logger.error({ err }, 'error closing the queues'));
  await Promise.allSettled([database.close(), connection.quit()]);
  connection.disconnect();
  redis.disconnect();
  await flushSentry();
  logger.info('worker stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
