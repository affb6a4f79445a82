import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Configuration for tests: real services (from .data/services.env, written by server/scripts/services.ts,
 * or the team defaults) and secrets generated per run. Loaded before anything imports server/env.ts.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
export const ROOT_DIR = ROOT;

function servicesEnv(): Record<string, string> {
  const file = path.join(ROOT, '.data', 'services.env');
  if (!existsSync(file)) return {};
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

const services = servicesEnv();
/** Server URL without a database: each test file creates its own database on it. */
export const MYSQL_SERVER_URL = (process.env.TEST_MYSQL_URL ?? services.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/flight_booking').replace(/\/[^/]*$/, '');
export const REDIS_URL = process.env.TEST_REDIS_URL ?? services.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function testEnv(): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: `${MYSQL_SERVER_URL}/flight_booking_test_unused`,
    REDIS_URL,
    JWT_SECRET: randomBytes(48).toString('base64url'),
    REFRESH_TOKEN_PEPPER: randomBytes(48).toString('base64url'),
    STRIPE_SECRET_KEY: `sk_test_${randomBytes(16).toString('hex')}`,
    STRIPE_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64')}`,
    APP_BASE_URL: 'http://localhost:5173',
  };
}
