import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/harness.js';
import { spawnApi, type SpawnedProcess } from '../support/spawn.js';
import { dropRedisPrefix } from '../support/redis.js';
import { REDIS_URL, testEnv } from '../support/test-env.js';
import { createRedis } from '../../server/lib/redis.js';
import { seed } from '../../server/db/seed.js';

let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
let api: SpawnedProcess & { baseUrl: string };

beforeAll(async () => {
  testDb = await createTestDatabase();
  await seed(testDb.database.db, { days: 2 });
  api = await spawnApi({ ...testEnv(), DATABASE_URL: testDb.url, LOG_LEVEL: 'debug', REDIS_KEY_PREFIX: `test:${testDb.name}:` });
});
afterAll(async () => {
  await api?.stop();
  await dropRedisPrefix(`test:${testDb.name}:`);
  await testDb.drop();
});

function searchUrl() {
  const date = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  return `${api.baseUrl}/trpc/flights.search?input=${encodeURIComponent(JSON.stringify({ origin: 'RUH', destination: 'JED', date, passengers: 1 }))}`;
}

describe('request id', () => {
  it('is taken from a sane X-Request-Id, echoed, and on every log line of the request, services included', async () => {
    const res = await fetch(searchUrl(), { headers: { 'X-Request-Id': 'req-test-000000001' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-test-000000001');
    const completed = await api.waitForLog((l) => l.requestId === 'req-test-000000001' && l.msg === 'request completed');
    expect(completed.status).toBe(200);
    // The service's own line (services/flights.ts) carries it without being handed a logger.
    const serviceLine = api.logs.find((l) => l.msg === 'flight search' && l.requestId === 'req-test-000000001');
    expect(serviceLine).toBeDefined();
  });

  it('is generated when the header is absent or not sane, and never echoes the bad value', async () => {
    const res = await fetch(searchUrl(), { headers: { 'X-Request-Id': 'bad id <script>' } });
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await api.waitForLog((l) => l.requestId === id && l.msg === 'request completed');
    expect(api.logs.some((l) => JSON.stringify(l).includes('<script>'))).toBe(false);
  });

  it('logs JSON in production mode (no pretty printing)', () => {
    expect(api.rawLines).toEqual([]);
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM finishes the request in flight, closes the pools and exits 0', async () => {
    // Registration hashes a password (tens of milliseconds): long enough to be in flight.
    const inFlight = fetch(`${api.baseUrl}/api/mobile/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `shutdown-${Date.now()}@example.test`, password: 'a long enough password', name: 'Late Request' }),
    });
    // The handler counts the attempt in Redis before it hashes: once the counter exists, the request
    // is inside the server, with its slow part still ahead.
    const redis = createRedis(REDIS_URL);
    try {
      for (let i = 0; i < 200 && (await redis.keys(`test:${testDb.name}:rl:register*`)).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    } finally {
      redis.disconnect();
    }
    const exited = api.stop('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(201);
    expect(await exited).toBe(0);
    expect(api.logs.some((l) => l.msg === 'shutdown complete')).toBe(true);
    await expect(fetch(`${api.baseUrl}/health`)).rejects.toThrow();
  });
});
