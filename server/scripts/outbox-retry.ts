import './load-dotenv.js';
import { env } from '../env.js';
import { logger } from '../lib/logger.js';
import { createDatabase } from '../db/client.js';
import { connectJobs } from '../jobs/dispatcher.js';
import { requeueFailedOutbox } from '../jobs/requeue.js';

/** `npm run outbox:retry -- <id>`: requeue an outbox row that failed for good (see README, Operating it). */
const id = Number(process.argv[2]);
if (!Number.isSafeInteger(id) || id <= 0) {
  logger.error('usage: npm run outbox:retry -- <outbox id>   (SELECT id, topic, last_error FROM outbox WHERE status = \'failed\')');
  process.exit(64);
}
const database = createDatabase(env.DATABASE_URL, { connectionLimit: 1 });
const jobs = connectJobs(database.db, env.REDIS_URL, env.REDIS_KEY_PREFIX);
try {
  const row = await requeueFailedOutbox(database.db, jobs.queues, id);
  if (!row) {
    logger.error({ outboxId: id }, 'no failed outbox row with that id (only status = failed can be requeued)');
    process.exitCode = 1;
  } else {
    logger.info({ outboxId: id, topic: row.topic, previousAttempts: row.attempts }, 'outbox row requeued; a worker runs it now');
  }
} finally {
  await jobs.close();
  await database.close();
}
