import { createHash } from 'node:crypto';
import { inArray } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import type { Redis } from '../lib/redis.js';
import { logger } from '../lib/logger.js';
import { localDate } from '../lib/time.js';
import { flights } from '../db/schema/index.js';
import { airportsByIata } from './airports.js';
import { trackSeatChanges, type FlightRoute } from './inventory.js';

/**
 * The versioned search cache. A search's answer lives in Redis under
 *   search:<version>:<hash of the normalised input>        (TTL SEARCH_CACHE_TTL_SECONDS)
 * where <version> is the counter of its route and origin-local date,
 *   v:search:<origin>:<destination>:<date>
 * which every change to the seats or the timetable of a flight on that route and date bumps with INCR,
 * after its commit (bumpSearchVersions). Readers get the version and the entry in one round trip (a Lua
 * script), so a bump makes every process miss at once: no KEYS, no SCAN, no list of entries to delete.
 * A failed bump leaves a stale answer for at most the TTL; bookings.create never trusts a cached count.
 *
 * A cold key under a spike costs one database query across all API processes: concurrent misses in one
 * process share one fill (single-flight), and processes take a short Redis lock (SET NX PX) so that the
 * others wait for the first filler's entry instead of querying. If Redis is down, searches go to the
 * database.
 */

/** A route on one origin-local date: the unit of invalidation. */
export interface RouteDay {
  origin: string;
  destination: string;
  /** YYYY-MM-DD at the origin. */
  date: string;
}

export interface SearchKey extends RouteDay {
  passengers: number;
  /**
   * The layout of the entry the caller stores, part of its key: a release that changes the layout never
   * reads an entry an older process wrote (a rolling deploy runs both for a while).
   */
  layout: string;
}

export type SearchCacheDeps = Pick<Deps, 'redis' | 'config'>;

/**
 * How long a process holding the fill lock may take before another one fills instead. Generous: under a
 * spike the filler's event loop is busy with the very requests that wait for it, and a lock that lapses
 * early costs a second query (seen at 2 s on a loaded 2-core machine).
 */
const LOCK_MS = 5_000;
/** How often a process waiting for another one's fill looks for the entry. */
const POLL_MS = 15;

export const searchVersionKey = (r: RouteDay) => `v:search:${r.origin}:${r.destination}:${r.date}`;
const inputHash = (k: SearchKey) =>
  createHash('sha256').update(`${k.layout}|${k.origin}|${k.destination}|${k.date}|${k.passengers}`).digest('base64url').slice(0, 22);
export const searchEntryKey = (version: string, hash: string) => `search:${version}:${hash}`;

// One round trip: the version, then the entry under it. The entry's key is built in the script, so the
// client's key prefix is passed in as ARGV[1].
const LOOKUP = `
local v = redis.call('GET', KEYS[1]) or '0'
return { v, redis.call('GET', ARGV[1] .. 'search:' .. v .. ':' .. ARGV[2]) }
`;

// The entry if it is there by now, else the fill lock if nobody holds it, in one step: a process whose
// lookup missed just before another one stored the entry and let the lock go must not fill it again.
const ENTRY_OR_LOCK = `
local e = redis.call('GET', KEYS[1])
if e then return { e, 0 } end
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return { false, 1 } end
return { false, 0 }
`;

// The cache's Lua scripts, defined on a client the first time it runs them (EVALSHA, then EVAL once).
const SCRIPTS = {
  searchLookup: { numberOfKeys: 1, lua: LOOKUP },
  searchEntryOrLock: { numberOfKeys: 2, lua: ENTRY_OR_LOCK },
} as const;
type ScriptName = keyof typeof SCRIPTS;
type ScriptClient = Redis & Record<ScriptName, (...args: (string | number)[]) => Promise<unknown>>;

function scripted(redis: Redis, name: ScriptName): ScriptClient {
  const r = redis as ScriptClient;
  if (typeof r[name] !== 'function') redis.defineCommand(name, SCRIPTS[name]);
  return r;
}

/** [version, entry or null] in one round trip; undefined when Redis failed. */
function lookup(redis: Redis, key: SearchKey, hash: string): Promise<[string, string | null] | undefined> {
  const r = scripted(redis, 'searchLookup');
  return quietly('lookup', () => r.searchLookup(searchVersionKey(key), r.options.keyPrefix ?? '', hash) as Promise<[string, string | null]>);
}

/**
 * Worth sending a command: connected, or not yet asked to connect (a lazyConnect client, as the worker's,
 * connects on its first command). Down or reconnecting: skip Redis rather than queue behind it.
 */
const usable = (redis: Redis) => redis.status === 'ready' || redis.status === 'wait';

/** Redis errors degrade to "no cache"; they never fail a search. */
async function quietly<T>(what: string, op: () => Promise<T>): Promise<T | undefined> {
  try {
    return await op();
  } catch (err) {
    logger.warn({ err, op: what }, 'search cache unavailable; answering from the database');
    return undefined;
  }
}

const inFlight = new Map<string, Promise<string>>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The cached entry for `key` when there is one under its route day's current version: one Redis round
 * trip, never a fill. Undefined when the cache is off, Redis is unusable, or the entry is cold.
 */
export async function peekSearch(deps: SearchCacheDeps, key: SearchKey): Promise<string | undefined> {
  if (deps.config.SEARCH_CACHE_TTL_SECONDS === 0 || !usable(deps.redis)) return undefined;
  return (await lookup(deps.redis, key, inputHash(key)))?.[1] ?? undefined;
}

/**
 * The entry for `key` (a string: callers keep answers in the form they send them): from the cache, or
 * from `fill` (the database), stored for the next caller. `fill` runs at most once per cold entry
 * across all processes, give or take a filler that dies.
 */
export async function cachedSearch(deps: SearchCacheDeps, key: SearchKey, fill: () => Promise<string>): Promise<string> {
  const ttl = deps.config.SEARCH_CACHE_TTL_SECONDS;
  // Not 'ready' (down, reconnecting): straight to the database, without queueing a command behind it.
  if (ttl === 0 || !usable(deps.redis)) return fill();
  const hash = inputHash(key);
  const found = await lookup(deps.redis, key, hash);
  if (!found) return fill();
  const [version, entry] = found;
  if (entry) return entry;
  const entryKey = searchEntryKey(version, hash);
  let shared = inFlight.get(entryKey);
  if (!shared) {
    shared = fillOnce(deps.redis, ttl, entryKey, fill).finally(() => inFlight.delete(entryKey));
    inFlight.set(entryKey, shared);
  }
  return shared;
}


async function fillOnce(redis: Redis, ttl: number, entryKey: string, fill: () => Promise<string>): Promise<string> {
  const lockKey = `lock:${entryKey}`;
  const claimed = await quietly('lock', () => scripted(redis, 'searchEntryOrLock').searchEntryOrLock(entryKey, lockKey, String(process.pid), LOCK_MS) as Promise<[string | null, number]>);
  if (claimed?.[0]) return claimed[0];
  // Redis failed (claimed undefined): fill without it. Lock taken: fill. Lock held by another: wait.
  const holdsLock = claimed?.[1] === 1;
  if (claimed && !holdsLock) {
    // Another process is filling this entry: wait for it while its lock lives.
    for (;;) {
      await sleep(POLL_MS);
      const seen = await quietly('wait', () => redis.mget(entryKey, lockKey));
      if (!seen) break;
      if (seen[0]) return seen[0];
      if (!seen[1]) {
        logger.debug({ entryKey }, 'search cache: the other filler gave up or its lock lapsed; filling here');
        break;
      }
    }
  }
  const value = await fill();
  await quietly('store', () => redis.set(entryKey, value, 'EX', ttl));
  if (holdsLock) await quietly('unlock', () => redis.del(lockKey));
  return value;
}

/**
 * Makes every cached search of these routes and dates miss from now on. Call it after the commit that
 * changed their seats or timetable. Never throws: a failed bump only leaves answers that age out within
 * the TTL. The counters expire two days after their date, when nobody can search it any more.
 */
export async function bumpSearchVersions(redis: Redis, routeDays: RouteDay[]): Promise<void> {
  if (!routeDays.length || !usable(redis)) {
    if (routeDays.length) logger.warn({ routeDays: routeDays.length }, 'search cache unavailable; cached searches age out within their TTL');
    return;
  }
  const seen = new Set<string>();
  const pipeline = redis.pipeline();
  for (const r of routeDays) {
    const key = searchVersionKey(r);
    if (seen.has(key)) continue;
    seen.add(key);
    pipeline.incr(key);
    pipeline.expireat(key, Math.floor(Date.parse(`${r.date}T00:00:00Z`) / 1000) + 2 * 86_400);
  }
  await quietly('bump', () => pipeline.exec());
}

/** The route days of these flights (origin-local departure dates); looks up the ones given without a route. */
async function routeDaysOf(db: Deps['db'], changed: Map<number, FlightRoute | null>): Promise<RouteDay[]> {
  const missing = [...changed].filter(([, r]) => !r).map(([id]) => id);
  const looked = missing.length
    ? await db.select({ origin: flights.origin, destination: flights.destination, departureAt: flights.departureAt }).from(flights).where(inArray(flights.id, missing))
    : [];
  const airports = await airportsByIata(db);
  return [...changed.values(), ...looked].flatMap((r) => {
    const zone = r && airports.get(r.origin)?.timeZone;
    return r && zone ? [{ origin: r.origin, destination: r.destination, date: localDate(r.departureAt, zone) }] : [];
  });
}

/**
 * Runs `work`, a use case that commits its own transaction, then makes the searches of every flight
 * whose seats it changed (inventory.ts reports them) miss. The bump never fails the use case: its
 * change is committed, and a stale search answer ages out within the TTL.
 */
export async function withSearchInvalidation<T>(deps: Pick<Deps, 'db' | 'redis'>, work: () => Promise<T>): Promise<T> {
  const { result, changed } = await trackSeatChanges(work);
  if (changed.size) {
    try {
      await bumpSearchVersions(deps.redis, await routeDaysOf(deps.db, changed));
    } catch (err) {
      logger.warn({ err, flightIds: [...changed.keys()] }, 'could not invalidate cached searches; they age out within their TTL');
    }
  }
  return result;
}
