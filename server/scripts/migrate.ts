import './load-dotenv.js';
import { env } from '../env.js';
import { logger } from '../lib/logger.js';
import { runMigrations } from '../db/migrate.js';

try {
  await runMigrations(env.DATABASE_URL);
  logger.info('migrations applied');
} catch (err) {
  logger.error({ err }, 'migration failed');
  process.exitCode = 1;
}
