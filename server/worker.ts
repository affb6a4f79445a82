import { env } from './env.js';
import { logger } from './lib/logger.js';
import { initSentry, flushSentry } from './lib/sentry.js';
import { createDatabase } from './db/client.js';
import { createQueueRedis } from './lib/redis.js';

/**
 * BullMQ worker entrypoint, a separate process from the API. Job processors live in server/jobs/.
 */
initSentry('worker');

const database = createDatabase(env.DATABASE_URL, { connectionLimit: 10 });
const connection = createQueueRedis(env.REDIS_URL);

logger.info('worker started');

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info({ signal }, 'worker shutting down');
  await Promise.allSettled([database.close(), connection.quit()]);
  await flushSentry();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
