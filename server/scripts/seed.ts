import './load-dotenv.js';
import { env } from '../env.js';
import { logger } from '../lib/logger.js';
import { createDatabase } from '../db/client.js';
import { seed } from '../db/seed.js';
import { createRedis } from '../lib/redis.js';
import { bumpSearchVersions } from '../services/search-cache.js';

const database = createDatabase(env.DATABASE_URL, { connectionLimit: 2 });
const redis = createRedis(env.REDIS_URL, { keyPrefix: env.REDIS_KEY_PREFIX || undefined, lazyConnect: true });
try {
  const { routeDays, ...result } = await seed(database.db);
  // New flights on a route and date: the searches cached for it must miss (after the inserts, never before).
  await bumpSearchVersions(redis, routeDays);
  logger.info(result, 'seed complete');
} catch (err) {
  logger.error({ err }, 'seed failed');
  process.exitCode = 1;
} finally {
  await database.close();
  redis.disconnect();
}
