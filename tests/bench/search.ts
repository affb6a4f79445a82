/**
 * npm run bench:search [-- --duration=10 --connections=100 --spike=500]
 *
 * flights.search over HTTP, each beside a bare baseline started in the same run (tests/bench/bare-servers.ts):
 * - cached: the API with its search cache, against Express + tRPC answering from one Redis GET;
 * - uncached: the API with SEARCH_CACHE_TTL_SECONDS=0, against Express + tRPC + one mysql2 range query;
 * - spike: `--spike` concurrent identical searches for a cold key, split over two API processes, and how
 *   many database queries they cost (each API process logs one debug line per search query it runs).
 * Every figure is autocannon's mean requests per second, p50 and p99, with the errors (must be 0).
 */
import '../support/setup-env.js';
import http from 'node:http';
import { sharedProcessEnv } from '../support/spawn.js';
import { createTestDatabase } from '../support/harness.js';
import { dropRedisPrefix } from '../support/redis.js';
import { REDIS_URL } from '../support/test-env.js';
import { seed } from '../../server/db/seed.js';
import { localDate } from '../../server/lib/time.js';
import { createRedis } from '../../server/lib/redis.js';
import { intArg, percentile } from './bench-utils.js';
import { cpuRatio, load, ratio, startProcess, type BenchProcess, type LoadResult } from './processes.js';

const DURATION = intArg('duration', 10);
const CONNECTIONS = intArg('connections', 100);
const SPIKE = intArg('spike', 500);

const db = await createTestDatabase();
const redisPrefix = `bench:${db.name}:`;
const started: BenchProcess[] = [];
try {
  await seed(db.database.db, { days: 4 });
  const day = (n: number) => localDate(new Date(Date.now() + n * 86_400_000), 'Asia/Riyadh');
  const searchPath = (date: string) =>
    `/trpc/flights.search?input=${encodeURIComponent(JSON.stringify({ origin: 'RUH', destination: 'JED', date, passengers: 1 }))}`;
  const hot = searchPath(day(1));

  const apiEnv = (extra: Record<string, string> = {}) => ({
    ...sharedProcessEnv({ databaseUrl: db.url, redisKeyPrefix: redisPrefix, stripeApiBase: 'http://127.0.0.1:9' }),
    ...extra,
  });
  const nodeArgs = process.env.BENCH_API_NODE_ARGS?.split(' ').filter(Boolean);
  const start = async (name: string, script: string, env: Record<string, string | undefined>, args?: string[]) => {
    const p = await startProcess(name, script, env, { args, nodeArgs: name.startsWith('api') ? nodeArgs : undefined });
    started.push(p);
    return p;
  };

  const api = await start('api-cached', 'server/index.ts', apiEnv());
  const apiUncached = await start('api-uncached', 'server/index.ts', apiEnv({ SEARCH_CACHE_TTL_SECONDS: '0' }));
  const bareRedis = await start('bare-redis', 'tests/bench/bare-servers.ts', { REDIS_URL, BARE_SEARCH_KEY: `${redisPrefix}bare:search` }, ['search-redis']);
  const bareMysql = await start('bare-mysql', 'tests/bench/bare-servers.ts', { DATABASE_URL: db.url }, ['search-mysql']);

  // The bare Redis procedure answers with the app's own result for the same search.
  const body = (await (await fetch(`${api.baseUrl}${hot}`)).json()) as { result: { data: { flights: unknown[] } } };
  const redis = createRedis(REDIS_URL);
  await redis.set(`${redisPrefix}bare:search`, JSON.stringify(body.result.data), 'EX', 3600);
  redis.disconnect();
  console.log(`RUH->JED on ${day(1)}: ${body.result.data.flights.length} flights per answer`);

  const run = async (label: string, p: BenchProcess) => {
    await load(`${label} (warm-up)`, { url: `${p.baseUrl}${hot}`, connections: CONNECTIONS, duration: 2 });
    return load(label, { url: `${p.baseUrl}${hot}`, connections: CONNECTIONS, duration: DURATION, server: p });
  };
  const results: LoadResult[] = [];
  results.push(await run('baseline: Express + tRPC + one Redis GET', bareRedis));
  results.push(await run('app: flights.search, cached', api));
  results.push(await run('baseline: Express + tRPC + mysql2 range query', bareMysql));
  results.push(await run('app: flights.search, uncached', apiUncached));
  await apiUncached.stop();
  await bareRedis.stop();
  await bareMysql.stop();

  // Spike: two API processes, each warmed on another key, then SPIKE identical searches for a cold key at once.
  const spikeApis = [await start('api-spike-1', 'server/index.ts', apiEnv({ LOG_LEVEL: 'debug' })), await start('api-spike-2', 'server/index.ts', apiEnv({ LOG_LEVEL: 'debug' }))];
  for (const p of spikeApis) await fetch(`${p.baseUrl}${searchPath(day(2))}`);
  const countQueries = () => spikeApis.reduce((n, p) => n + p.logLines().filter((l) => l.msg === 'flight search').length, 0);
  const before = countQueries();
  const agent = new http.Agent({ keepAlive: true, maxSockets: SPIKE });
  const cold = searchPath(day(3));
  const spikeStarted = performance.now();
  const spike = await Promise.all(
    Array.from({ length: SPIKE }, (_, i) => {
      const url = new URL(`${spikeApis[i % spikeApis.length]!.baseUrl}${cold}`);
      const t0 = performance.now();
      return new Promise<{ ms: number; status: number }>((resolve) => {
        const req = http.get({ agent, host: url.hostname, port: url.port, path: url.pathname + url.search }, (res) => {
          res.resume();
          res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode ?? 0 }));
        });
        req.on('error', () => resolve({ ms: performance.now() - t0, status: 0 }));
      });
    }),
  );
  const spikeMs = performance.now() - spikeStarted;
  agent.destroy();
  // pino writes synchronously to the file, but give the processes a beat to finish their lines.
  await new Promise((r) => setTimeout(r, 300));
  const queries = countQueries() - before;
  const latencies = spike.map((s) => s.ms);
  results.push({
    label: `spike: ${SPIKE} identical cold searches over 2 API processes`,
    'req/s': Math.round((SPIKE / spikeMs) * 1000),
    'p50 ms': Number(percentile(latencies, 50).toFixed(1)),
    'p99 ms': Number(percentile(latencies, 99).toFixed(1)),
    requests: SPIKE,
    errors: spike.filter((s) => s.status !== 200).length,
  });

  console.table(results);
  console.log(`cached ratio: ${ratio(results[1]!, results[0]!)} (goal >= 0.9; CPU per request ${cpuRatio(results[1]!, results[0]!)}x the baseline's)`);
  console.log(`uncached ratio: ${ratio(results[3]!, results[2]!)} (goal >= 0.8; CPU per request ${cpuRatio(results[3]!, results[2]!)}x the baseline's)`);
  console.log(`db queries per cold key: ${queries} (goal 1)`);
  const errors = results.reduce((n, r) => n + r.errors, 0);
  console.log(`errors: ${errors} (must be 0)`);
  process.exitCode = errors === 0 ? 0 : 1;
} finally {
  for (const p of started.reverse()) await p.stop();
  await dropRedisPrefix(redisPrefix);
  await db.drop();
}
