import './load-dotenv.js';
import { env } from '../env.js';
import { logger } from '../lib/logger.js';
import { createDatabase } from '../db/client.js';
import { seed } from '../db/seed.js';

const database = createDatabase(env.DATABASE_URL, { connectionLimit: 2 });
try {
  const result = await seed(database.db);
  logger.info(result, 'seed complete');
} catch (err) {
  logger.error({ err }, 'seed failed');
  process.exitCode = 1;
} finally {
  await database.close();
}
