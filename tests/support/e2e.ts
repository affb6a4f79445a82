import mysql from 'mysql2/promise';
import { createTestDatabase, trpcClient } from './harness.js';
import { startStripeEmulator, type StripeEmulator } from '../../server/dev/stripe-emulator/index.js';
import { sharedProcessEnv, spawnApi, spawnEntrypoint, type SpawnedProcess } from './spawn.js';
import { dropRedisPrefix } from './redis.js';
import { seed } from '../../server/db/seed.js';

/**
 * The system as deployed: the real API entrypoint (`tsx server/index.ts`, as `npm start` runs it) in a
 * process of its own, over real HTTP, on its own migrated database and Redis key prefix, with Stripe's
 * API served by the Stripe emulator (server/dev/stripe-emulator). The test process shares the API's secrets (from setup-env), so
 * it can sign webhooks with the real SDK and mint tokens for bulk users.
 */
export interface E2EContext {
  api: SpawnedProcess & { baseUrl: string };
  /** Worker processes started with startWorker() (or opts.worker), all stopped by close(). */
  workers: SpawnedProcess[];
  /** Starts one more worker process (`node --import tsx server/worker.ts`) and waits until it runs. */
  startWorker(env?: Record<string, string>): Promise<SpawnedProcess>;
  /** The environment the API was started with (shared with workers and scripts). */
  processEnv: Record<string, string | undefined>;
  fakeStripe: StripeEmulator;
  databaseUrl: string;
  db: Awaited<ReturnType<typeof createTestDatabase>>['database']['db'];
  /** A typed tRPC client of the API process. */
  trpc(accessToken?: string): ReturnType<typeof trpcClient>;
  close(): Promise<void>;
}

export async function startE2E(opts: { seedDays?: number; env?: Record<string, string>; nodeArgs?: string[]; worker?: boolean } = {}): Promise<E2EContext> {
  const testDb = await createTestDatabase();
  if (opts.seedDays) await seed(testDb.database.db, { days: opts.seedDays });
  const fakeStripe = await startStripeEmulator({ webhookSecret: process.env.STRIPE_WEBHOOK_SECRET });
  const redisPrefix = `e2e:${testDb.name}:`;
  const processEnv = { ...sharedProcessEnv({ databaseUrl: testDb.url, redisKeyPrefix: redisPrefix, stripeApiBase: fakeStripe.url }), ...opts.env };
  const api = await spawnApi(processEnv, opts.nodeArgs);
  fakeStripe.setWebhookUrl(`${api.baseUrl}/webhooks/stripe`);
  const workers: SpawnedProcess[] = [];
  async function startWorker(env: Record<string, string> = {}): Promise<SpawnedProcess> {
    const worker = spawnEntrypoint('server/worker.ts', { ...processEnv, ...env });
    workers.push(worker);
    await worker.waitForLog((l) => l.msg === 'worker started');
    return worker;
  }
  if (opts.worker) await startWorker();
  return {
    api,
    workers,
    startWorker,
    processEnv,
    fakeStripe,
    databaseUrl: testDb.url,
    db: testDb.database.db,
    trpc: (accessToken?: string) => trpcClient(api.baseUrl, accessToken),
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await api.stop();
      await fakeStripe.close();
      await dropRedisPrefix(redisPrefix);
      await testDb.drop();
    },
  };
}

/** Polls until `check` returns a truthy value (events are delivered asynchronously). */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Row counts of every table: "nothing was written anywhere" is a comparison of two of these. */
export async function tableCounts(databaseUrl: string): Promise<Record<string, number>> {
  const conn = await mysql.createConnection({ uri: databaseUrl });
  try {
    const [tables] = await conn.query<mysql.RowDataPacket[]>('SHOW TABLES');
    const counts: Record<string, number> = {};
    for (const row of tables) {
      const name = Object.values(row)[0] as string;
      const [[c]] = (await conn.query(`SELECT COUNT(*) AS n FROM \`${name}\``)) as unknown as [[{ n: number }]];
      counts[name] = Number(c.n);
    }
    return counts;
  } finally {
    await conn.end();
  }
}
