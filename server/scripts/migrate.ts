import './load-dotenv.js';
import { migrationDatabaseUrl } from '../env.js';
import { logger } from '../lib/logger.js';
import { runMigrations } from '../db/migrate.js';

try {
  // The migration user, not the app's: only it may change the schema and the triggers.
  await runMigrations(migrationDatabaseUrl());
  logger.info('migrations applied');
} catch (err) {
  logger.error({ err }, 'migration failed');
  process.exitCode = 1;
}
