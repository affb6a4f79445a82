import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { drizzle } from 'drizzle-orm/mysql2';
import { eq } from 'drizzle-orm';
import { createApp } from '../../server/app.js';
import { createDatabase } from '../../server/db/client.js';
import * as schema from '../../server/db/schema/index.js';
import type { Db } from '../../server/db/types.js';
import { flights } from '../../server/db/schema/index.js';
import { createRedis } from '../../server/lib/redis.js';
import { localDate } from '../../server/lib/time.js';
import { cachedSearchJson, searchFlights } from '../../server/services/flights.js';
import { cachedSearch, searchVersionKey } from '../../server/services/search-cache.js';
import { expireLapsedHolds } from '../../server/services/bookings.js';
import { useTestApp } from '../support/lifecycle.js';
import { createFlight } from '../support/flights.js';
import { createUser } from '../support/users.js';
import { newKey, passengers } from '../support/booking-flow.js';

const t = useTestApp();

/** A flight on its own route day (hours ahead pick the day), and the search that lists it. */
async function listedFlight(hoursAhead: number, seats = 50) {
  const id = await createFlight(t.db, { seats, departureInHours: hoursAhead });
  const [row] = await t.db.select().from(flights).where(eq(flights.id, id));
  const input = { origin: 'RUH', destination: 'JED', date: localDate(row!.departureAt, 'Asia/Riyadh'), passengers: 1 };
  const path = `/trpc/flights.search?input=${encodeURIComponent(JSON.stringify(input))}`;
  return { id, input, path };
}

const seatsOf = (body: { result: { data: { flights: { id: number; seatsAvailable: number }[] } } }, id: number) =>
  body.result.data.flights.find((f) => f.id === id)?.seatsAvailable;

describe('the versioned search cache', () => {
  it('answers a hit with the same body as the miss that filled it, and does not ask the database again', async () => {
    const { id, path } = await listedFlight(24 * 10);
    const miss = await request(t.baseUrl).get(path);
    expect(miss.status).toBe(200);
    // Behind the cache's back (no version bump): a hit must not see it.
    await t.db.update(flights).set({ seatsAvailable: 7 }).where(eq(flights.id, id));
    const hit = await request(t.baseUrl).get(path);
    expect(hit.status).toBe(200);
    expect(hit.text).toBe(miss.text);
    expect(seatsOf(hit.body, id)).toBe(50);
  });

  it('a booking on a listed flight changes the next search: its seat count and its ETag, at once', async () => {
    const { id, path } = await listedFlight(24 * 11);
    const before = await request(t.baseUrl).get(path);
    expect(seatsOf(before.body, id)).toBe(50);
    const user = await createUser(t.db);
    await t.trpc(user.accessToken).bookings.create.mutate({ flightId: id, passengers: passengers(2), idempotencyKey: newKey() });
    const after = await request(t.baseUrl).get(path);
    expect(seatsOf(after.body, id)).toBe(48);
    expect(after.headers.etag).toBeDefined();
    expect(after.headers.etag).not.toBe(before.headers.etag);
  });

  it('a lapsed hold puts its seats back in the next search', async () => {
    const { id, path } = await listedFlight(24 * 12);
    const user = await createUser(t.db);
    const booking = await t.trpc(user.accessToken).bookings.create.mutate({ flightId: id, passengers: passengers(3), idempotencyKey: newKey() });
    expect(seatsOf((await request(t.baseUrl).get(path)).body, id)).toBe(47);
    const later = new Date(Date.now() + (t.deps.config.BOOKING_HOLD_MINUTES + 1) * 60_000);
    expect(await expireLapsedHolds({ ...t.deps, clock: { now: () => later } })).toContain(booking.id);
    expect(seatsOf((await request(t.baseUrl).get(path)).body, id)).toBe(50);
  });

  it('a spike of identical cold searches in one process queries the database once', async () => {
    const { input } = await listedFlight(24 * 13);
    // The app's own pool, through a drizzle handle that counts the statements sent to flights.
    let flightQueries = 0;
    const database = createDatabase(t.appDatabaseUrl, { connectionLimit: 10 });
    const counted = drizzle(database.pool, {
      schema,
      mode: 'default',
      logger: { logQuery: (sql) => void (/from `flights`/i.test(sql) && flightQueries++) },
    }) as Db;
    try {
      const answers = await Promise.all(Array.from({ length: 40 }, () => searchFlights({ ...t.deps, db: counted }, input)));
      expect(flightQueries).toBe(1);
      expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
      expect(answers[0]).toHaveLength(1);
    } finally {
      await database.close();
    }
  });
});

describe('filling a cold entry', () => {
  it('does not fill again when another process stored the entry and let its lock go between our lookup and our fill', async () => {
    const { input } = await listedFlight(24 * 20);
    await cachedSearch(t.deps, { origin: 'RUH', destination: 'JED', date: input.date, passengers: 1, layout: 'test' }, async () => 'stored by another process');
    // Our lookup saw the entry cold (it was, a moment before); by now it is stored and unlocked.
    const lateLookup = new Proxy(t.deps.redis, {
      get(target, prop, receiver) {
        if (prop === 'searchLookup') return async () => ['0', null];
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    let fills = 0;
    const key = { origin: 'RUH', destination: 'JED', date: input.date, passengers: 1, layout: 'test' };
    const version = (await t.deps.redis.get(searchVersionKey(key))) ?? '0';
    const stored = await cachedSearch({ ...t.deps, redis: lateLookup }, key, async () => String(++fills));
    expect(fills).toBe(0);
    expect(stored).toBe(await cachedSearch(t.deps, key, async () => String(++fills)));
    expect(version).toBe('0');
  });
});

describe('flights.search over GET, answered ahead of the tRPC adapter', () => {
  it('a hit is known to the cache only once a search filled it, and no longer once a booking bumped its version', async () => {
    const { id, input, path } = await listedFlight(24 * 17);
    expect(await cachedSearchJson(t.deps, input)).toBeUndefined();
    const miss = await request(t.baseUrl).get(path);
    expect(await cachedSearchJson(t.deps, input)).toBe(JSON.stringify(miss.body.result.data.flights));
    const user = await createUser(t.db);
    await t.trpc(user.accessToken).bookings.create.mutate({ flightId: id, passengers: passengers(1), idempotencyKey: newKey() });
    expect(await cachedSearchJson(t.deps, input)).toBeUndefined();
  });

  it('sends what the tRPC procedure sends: the same bytes, Content-Type, Vary, Cache-Control and ETag', async () => {
    const { input, path } = await listedFlight(24 * 18);
    const miss = await request(t.baseUrl).get(path);
    const hit = await request(t.baseUrl).get(path);
    expect(await cachedSearchJson(t.deps, input)).toBeDefined();
    for (const header of ['content-type', 'vary', 'cache-control', 'etag', 'content-length']) {
      expect(hit.headers[header], header).toBe(miss.headers[header]);
    }
    expect(hit.text).toBe(miss.text);
    // The batch form goes through the procedure itself and answers the same data.
    const batch = await request(t.baseUrl).get(`/trpc/flights.search?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: input }))}`);
    expect(batch.status).toBe(200);
    expect(batch.body[0].result.data).toEqual(hit.body.result.data);
    // Invalid input, even for a cached search, is tRPC's error.
    const bad = await request(t.baseUrl).get(`/trpc/flights.search?input=${encodeURIComponent(JSON.stringify({ ...input, passengers: 0 }))}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.data.appCode).toBe('VALIDATION');
  });

  it('never offers from an answer another process cached under a shorter sales cutoff a flight this one considers closed', async () => {
    const { id, input } = await listedFlight(24 * 3);
    const [row] = await t.db.select().from(flights).where(eq(flights.id, id));
    await request(t.baseUrl).get(`/trpc/flights.search?input=${encodeURIComponent(JSON.stringify(input))}`);
    // A process deployed with a cutoff that closes this flight already (it departs in 3 days).
    const minutesLeft = Math.floor((row!.departureAt.getTime() - Date.now()) / 60_000);
    const stricter = { ...t.deps, config: { ...t.deps.config, SALES_CUTOFF_MINUTES: minutesLeft } };
    expect(await cachedSearchJson(stricter, input)).toBe('[]');
    expect(JSON.parse((await cachedSearchJson(t.deps, input))!)).toHaveLength(1);
  });

  it('never offers from the cache a flight whose sales closed after the answer was cached', async () => {
    const { id, input, path } = await listedFlight(24 * 19);
    const [row] = await t.db.select().from(flights).where(eq(flights.id, id));
    const listed = await request(t.baseUrl).get(path);
    expect(seatsOf(listed.body, id)).toBe(50);
    const salesClosed = new Date(row!.departureAt.getTime() - t.deps.config.SALES_CUTOFF_MINUTES * 60_000);
    const clock = { now: () => salesClosed };
    // The entry is still cached, and still lists the flight: the answer drops it on the way out.
    expect(await cachedSearchJson({ ...t.deps, clock }, input)).toBe('[]');
    const later = createApp({ ...t.deps, clock });
    const res = await request(later).get(path);
    expect(res.status).toBe(200);
    expect(res.body.result.data.flights).toEqual([]);
    expect(res.headers.etag).not.toBe(listed.headers.etag);
  });
  const withoutRequestId = (error: { data: Record<string, unknown> }) => ({ ...error, data: { ...error.data, requestId: undefined } });
  const get = (app: Parameters<typeof request>[0], input: unknown) => request(app).get(`/trpc/flights.search?input=${encodeURIComponent(JSON.stringify(input))}`);
  const batch = (app: Parameters<typeof request>[0], input: unknown) => request(app).get(`/trpc/flights.search?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: input }))}`);

  it.each([
    ['an input the schema refuses', { origin: 'RUH', destination: 'RUH', date: '2030-01-01', passengers: 0 }],
    ['an unknown airport', { origin: 'RUH', destination: 'XXX', date: '2030-01-01', passengers: 1 }],
    ['a date already past at the origin', { origin: 'RUH', destination: 'JED', date: '2001-01-01', passengers: 1 }],
  ])('answers %s with the error, status and headers the adapter sends', async (_what, input) => {
    await listedFlight(24 * 21); // the airports exist
    const direct = await get(t.baseUrl, input);
    const adapter = await batch(t.baseUrl, input);
    expect(direct.status).toBe(400);
    expect(direct.status).toBe(adapter.status);
    expect(withoutRequestId(direct.body.error)).toEqual(withoutRequestId(adapter.body[0].error));
    expect(direct.body.error.data.requestId).toBe(direct.headers['x-request-id']);
    for (const header of ['content-type', 'vary', 'cache-control']) expect(direct.headers[header], header).toBe(adapter.headers[header]);
    expect(direct.headers.etag).toBeUndefined();
  });

  it('answers a database failure as the adapter does: 500, a generic message, nothing kept by a cache', async () => {
    const { input } = await listedFlight(24 * 22);
    const broken = createDatabase('mysql://root@127.0.0.1:1/none', { connectionLimit: 1 });
    try {
      const app = createApp({ ...t.deps, db: broken.db, config: { ...t.deps.config, SEARCH_CACHE_TTL_SECONDS: 0 } });
      const direct = await get(app, input);
      const adapter = await batch(app, input);
      expect(direct.status).toBe(500);
      expect(adapter.status).toBe(500);
      expect(withoutRequestId(direct.body.error)).toEqual(withoutRequestId(adapter.body[0].error));
      expect(direct.body.error.message).toBe('Internal server error');
      expect(direct.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|at /);
      expect(direct.headers['cache-control']).toBe('private, no-store');
    } finally {
      await broken.close();
    }
  });

  it('a miss runs the procedure and answers what the adapter answers; an input that is not JSON is the adapter\'s to refuse', async () => {
    const { input } = await listedFlight(24 * 23);
    const uncached = createApp({ ...t.deps, config: { ...t.deps.config, SEARCH_CACHE_TTL_SECONDS: 0 } });
    const direct = await get(uncached, input);
    const adapter = await batch(uncached, input);
    expect(direct.status).toBe(200);
    expect(direct.body.result.data.flights).toHaveLength(1);
    expect(direct.body.result).toEqual(adapter.body[0].result);
    const notJson = await request(uncached).get('/trpc/flights.search?input=%7Bnot-json');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.data.code).toBe('BAD_REQUEST');
  });
});

describe('HTTP caching of flights.search', () => {
  it('is public for a short max-age with a strong ETag, and 304 without a body for a matching If-None-Match', async () => {
    const { path } = await listedFlight(24 * 14);
    const first = await request(t.baseUrl).get(path);
    expect(first.status).toBe(200);
    expect(first.headers['cache-control']).toBe(`public, max-age=15, stale-while-revalidate=${t.deps.config.SEARCH_HTTP_STALE_SECONDS}`);
    expect(first.headers.etag).toMatch(/^"[^"]+"$/); // strong: no W/
    const again = await request(t.baseUrl).get(path).set('If-None-Match', first.headers.etag!);
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    const other = await request(t.baseUrl).get(path).set('If-None-Match', '"something-else"');
    expect(other.status).toBe(200);
    expect(other.text).toBe(first.text);
  });

  it('keeps errors, signed-in reads and mutations out of shared caches', async () => {
    const bad = await request(t.baseUrl).get(`/trpc/flights.search?input=${encodeURIComponent(JSON.stringify({ origin: 'RUH' }))}`);
    expect(bad.status).toBe(400);
    expect(bad.headers['cache-control']).toBe('private, no-store');
    expect(bad.headers.etag).toBeUndefined();
    const user = await createUser(t.db);
    const me = await request(t.baseUrl).get('/trpc/auth.me').set('Authorization', `Bearer ${user.accessToken}`);
    expect(me.status).toBe(200);
    expect(me.headers['cache-control']).toBe('private, no-store');
    const { id } = await listedFlight(24 * 15);
    const created = await request(t.baseUrl)
      .post('/trpc/bookings.create')
      .set('Authorization', `Bearer ${user.accessToken}`)
      .send({ flightId: id, passengers: passengers(1), idempotencyKey: newKey() });
    expect(created.status).toBe(200);
    expect(created.headers['cache-control']).toBe('private, no-store');
  });
});

describe('with Redis down', () => {
  it('searches still answer from the database, and /health says Redis is degraded with 200', async () => {
    const { id, path } = await listedFlight(24 * 16);
    const down = createRedis('redis://127.0.0.1:1');
    down.on('error', () => undefined);
    try {
      const app = createApp({ ...t.deps, redis: down });
      const res = await request(app).get(path);
      expect(res.status).toBe(200);
      expect(seatsOf(res.body, id)).toBe(50);
      const health = await request(app).get('/health');
      expect(health.status).toBe(200);
      expect(health.body.status).toBe('degraded');
      expect(health.body.checks.redis.status).toBe('degraded');
      expect(health.body.checks.database.status).toBe('ok');
    } finally {
      down.disconnect();
    }
  });
});
