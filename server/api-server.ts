import { env } from './env.js';
import { logger } from './lib/logger.js';
import { initSentry, flushSentry } from './lib/sentry.js';
import { createDatabase } from './db/client.js';
import { createRedis } from './lib/redis.js';
import { createStripe } from './lib/stripe.js';
import { systemClock, type Deps } from './deps.js';
import { createApp } from './app.js';
import { connectJobs } from './jobs/dispatcher.js';
import { installProcessHandlers } from './lib/process-handlers.js';
import { withTimeout } from './lib/timeout.js';

// One API process's composition root (server/index.ts starts one, or API_WORKERS of them under
// node:cluster): the one place its dependencies are built (tests build their own).
initSentry('api', env);
installProcessHandlers('api');

const database = createDatabase(env.DATABASE_URL);
const redis = createRedis(env.REDIS_URL, { keyPrefix: env.REDIS_KEY_PREFIX || undefined });
const stripe = createStripe(env.STRIPE_SECRET_KEY, env.STRIPE_API_BASE);
// Jobs recorded by a request (a refund, an e-mail) are handed to the worker's queues after the commit.
const jobs = connectJobs(database.db, env.REDIS_URL, env.REDIS_KEY_PREFIX);
const deps: Deps = { db: database.db, redis, stripe, config: env, clock: systemClock, logger, jobs: jobs.dispatcher };
const app = createApp(deps);

const server = app.listen(env.PORT, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  logger.info({ port }, `API listening on http://localhost:${port}`);
});
// Idle keep-alive sockets must not hold shutdown open; in-flight requests still finish.
server.keepAliveTimeout = 5_000;

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
  // A hard deadline, kept referenced: whatever hangs (a request, a half-closed Redis socket), we exit.
  setTimeout(() => {
    logger.error('shutdown did not finish within 15 s; exiting');
    process.exit(1);
  }, 15_000);
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    // Keep-alive sockets become idle as their last response finishes: close each as soon as it does.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.once('close', () => clearInterval(sweep));
    server.closeIdleConnections();
  });
  // Closing a pool or a connection to a server that stopped answering must not hold shutdown forever.
  await Promise.allSettled([
    withTimeout(database.close(), 5000, 'closing the database pool'),
    withTimeout(redis.quit(), 2000, 'closing redis'),
    withTimeout(jobs.close(), 2000, 'closing the job queues'),
  ]);
  redis.disconnect();
  await flushSentry();
  logger.info('shutdown complete');
  process.exit(0);
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
