import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import mysql from 'mysql2/promise';
import { createTRPCClient, httpLink } from '@trpc/client';
import { env, type Env } from '../../server/env.js';
import { createApp } from '../../server/app.js';
import { systemClock, type Deps } from '../../server/deps.js';
import { logger } from '../../server/lib/logger.js';
import { createDatabase, type Database } from '../../server/db/client.js';
import { runMigrations } from '../../server/db/migrate.js';
import { createQueueRedis, createRedis, type Redis } from '../../server/lib/redis.js';
import { connectJobs } from '../../server/jobs/dispatcher.js';
import { bullPrefix, type Queues } from '../../server/jobs/queues.js';
import { startWorkers } from '../../server/jobs/workers.js';
import { createMailer, type Mailer } from '../../server/services/email/transport.js';
import { createStripe } from '../../server/lib/stripe.js';
import type { AppRouter } from '../../server/trpc/router.js';
import { startStripeEmulator, type StripeEmulator, type StripeEmulatorOptions } from '../../server/dev/stripe-emulator/index.js';
import { MYSQL_SERVER_URL, REDIS_URL } from './test-env.js';
import { deleteRedisKeys } from './redis.js';

/**
 * A fresh, migrated database of its own for one test file.
 *
 * Not one per vitest worker: measured on the 2-core machine, npm test took 1m39s and 1m47s this way
 * against 1m36s and 1m36s with a per-worker database truncated between files (creating one costs
 * 0.5-2.5 s of DDL on a busy server, about 40 s summed over a run, mostly overlapped by other work).
 * About 7 s was not worth making files share a schema that some of them change on purpose.
 */
export async function createTestDatabase(): Promise<{ url: string; name: string; database: Database; drop(): Promise<void> }> {
  const name = `fbt_${process.pid}_${randomBytes(4).toString('hex')}`;
  const url = `${MYSQL_SERVER_URL}/${name}`;
  await runMigrations(url);
  const database = createDatabase(url, { connectionLimit: 40 });
  return {
    url,
    name,
    database,
    async drop() {
      await database.close();
      const conn = await mysql.createConnection({ uri: `${MYSQL_SERVER_URL}/` });
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}

/**
 * A database user of its own with only `privileges` on one test database (e.g. "SELECT, INSERT"), named
 * after the database so global-setup can drop the ones a killed run left behind.
 */
export async function createDatabaseUser(databaseName: string, privileges: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (!/^[A-Z ,]+$/.test(privileges)) throw new Error(`not a privilege list: ${privileges}`);
  const password = randomBytes(16).toString('hex');
  const admin = await mysql.createConnection({ uri: `${MYSQL_SERVER_URL}/` });
  try {
    await admin.query("CREATE USER ?@'%' IDENTIFIED BY ?", [databaseName, password]);
    await admin.query(`GRANT ${privileges} ON \`${databaseName}\`.* TO ?@'%'`, [databaseName]);
  } finally {
    await admin.end();
  }
  const url = new URL(`${MYSQL_SERVER_URL}/${databaseName}`);
  [url.username, url.password] = [databaseName, password];
  return {
    url: url.toString(),
    async drop() {
      const conn = await mysql.createConnection({ uri: `${MYSQL_SERVER_URL}/` });
      await conn.query("DROP USER IF EXISTS ?@'%'", [databaseName]);
      await conn.end();
    },
  };
}

export interface TestContext {
  deps: Deps;
  db: Deps['db'];
  redis: Redis;
  fakeStripe: StripeEmulator;
  databaseUrl: string;
  databaseName: string;
  /** The URL the app connects with: databaseUrl, or the restricted user's (opts.databasePrivileges). */
  appDatabaseUrl: string;
  /** http://127.0.0.1:PORT of the in-process app, listening on a real socket. */
  baseUrl: string;
  redisPrefix: string;
  /** The app's BullMQ queues (under the test's Redis prefix). */
  queues: Queues;
  trpc(accessToken?: string): ReturnType<typeof createTRPCClient<AppRouter>>;
  close(): Promise<void>;
}

/**
 * The whole app in-process on a real port, over its own database, a Redis key prefix of its own and a
 * Stripe emulator (server/dev/stripe-emulator) that the real Stripe SDK talks to. Its webhooks are signed with the
 * app's STRIPE_WEBHOOK_SECRET and delivered to this app.
 */
export async function startTestApp(
  opts: {
    stripeTimeoutMs?: number;
    config?: Partial<Env>;
    /** Deliver the emulator's events as they happen (the hosted pages' tests), and how long a bank transfer takes. */
    stripeEmulator?: Pick<StripeEmulatorOptions, 'autoDeliver' | 'delayedPaymentMs'>;
    /** Run the app as a database user with only these privileges (e.g. "SELECT, INSERT"), not the admin that migrated. */
    databasePrivileges?: string;
    /**
     * Run the worker's BullMQ workers in this process too (e-mail, Stripe calls, webhook retries), without
     * the recurring schedules; e-mails go to `mailer` (default: .eml files in a temporary folder).
     */
    workers?: boolean | { mailer?: Mailer };
  } = {},
): Promise<TestContext> {
  const testDb = await createTestDatabase();
  // Migrated by the test's (admin) user; the app itself then runs as a user with only these privileges.
  const appUser = opts.databasePrivileges ? await createDatabaseUser(testDb.name, opts.databasePrivileges) : undefined;
  const appDatabase = appUser ? createDatabase(appUser.url, { connectionLimit: 40 }) : testDb.database;
  const redisPrefix = `test:${testDb.name}:`;
  const redis = createRedis(REDIS_URL, { keyPrefix: redisPrefix });
  const fakeStripe = await startStripeEmulator({ ...opts.stripeEmulator, webhookSecret: env.STRIPE_WEBHOOK_SECRET });
  const stripe = createStripe(env.STRIPE_SECRET_KEY, fakeStripe.url, { timeoutMs: opts.stripeTimeoutMs ?? 3000, maxNetworkRetries: 0 });
  const jobs = connectJobs(appDatabase.db, REDIS_URL, redisPrefix);
  const deps: Deps = { db: appDatabase.db, redis, stripe, config: { ...env, ...opts.config }, clock: systemClock, logger, jobs: jobs.dispatcher };
  const background = opts.workers ? await startBackground(deps, jobs.queues, redisPrefix, opts.workers === true ? {} : opts.workers) : undefined;
  const app = createApp(deps);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fakeStripe.setWebhookUrl(`${baseUrl}/webhooks/stripe`);
  return {
    deps,
    db: deps.db,
    redis,
    fakeStripe,
    databaseUrl: testDb.url,
    databaseName: testDb.name,
    appDatabaseUrl: appUser?.url ?? testDb.url,
    baseUrl,
    redisPrefix,
    queues: jobs.queues,
    trpc: (accessToken?: string) => trpcClient(baseUrl, accessToken),
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await background?.close();
      await jobs.close();
      await fakeStripe.close();
      await deleteRedisKeys(redis);
      redis.disconnect();
      if (appUser) {
        await appDatabase.close();
        await appUser.drop();
      }
      await testDb.drop();
    },
  };
}

/** The worker's queues' workers, in-process, over a blocking connection of their own. */
async function startBackground(deps: Deps, queues: Queues, redisPrefix: string, opts: { mailer?: Mailer }) {
  const connection = createQueueRedis(REDIS_URL);
  const mailDir = opts.mailer ? undefined : await mkdtemp(path.join(os.tmpdir(), 'fbt-mail-'));
  const mailer = opts.mailer ?? createMailer({ ...deps.config, SMTP_URL: undefined, MAIL_DIR: mailDir }, deps.logger);
  const workers = await startWorkers({ ...deps, mailer }, { connection, prefix: bullPrefix(redisPrefix), queues, schedules: false });
  return {
    async close() {
      await workers.close();
      connection.disconnect();
      if (!opts.mailer) mailer.close();
      if (mailDir) await rm(mailDir, { recursive: true, force: true });
    },
  };
}

export function trpcClient(baseUrl: string, accessToken?: string, headers: Record<string, string> = {}) {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${baseUrl}/trpc`,
        headers: () => ({ ...headers, ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}) }),
      }),
    ],
  });
}
