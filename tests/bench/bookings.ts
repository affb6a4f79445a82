/**
 * npm run bench:bookings [-- --n=2000 --concurrency=50 --workers=1]
 *
 * Booking creations per second and p50/p99 latency at 50 concurrent clients, through the real stack
 * (the API process, tRPC over HTTP, JWT, zod, idempotency, seat hold, booking, passengers, audit
 * row), against two baselines measured in the same run: a bare Express + tRPC process running the same
 * statements with mysql2 (tests/bench/bare-servers.ts, `ratio vs bare tRPC`), and a bare mysql2
 * transaction doing the same writes from this process (`ratio vs in-process SQL`). Scenarios: spread over
 * many flights, all on one flight, and a contended flight that must not oversell. Each user makes at most
 * 3 bookings, under the cap on unpaid bookings per traveller.
 */
import '../support/setup-env.js';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { sql } from 'drizzle-orm';
import mysql from 'mysql2/promise';
import { trpcClient } from '../support/harness.js';
import { startE2E } from '../support/e2e.js';
import { createUser } from '../support/users.js';
import { createFlight } from '../support/flights.js';
import { inventoryViolations } from '../../server/services/inventory.js';
import { fingerprint } from '../../server/services/idempotency.js';
import { intArg, row, runPool } from './bench-utils.js';
import { processCpuMs, startProcess } from './processes.js';

const N = intArg('n', 2000);
const CONCURRENCY = intArg('concurrency', 50);
const SPREAD_FLIGHTS = 200;

// The API runs as its own process, as deployed; this process only plays the clients and the baseline.
// BENCH_API_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the API process.
// The hold caps stay as configured: each traveller makes at most 3 bookings of 1 seat (see nextTraveller).
// --workers=N runs the API as N processes under node:cluster (API_WORKERS), as `npm start` does.
const WORKERS = intArg('workers', 1);
const t = await startE2E({ nodeArgs: process.env.BENCH_API_NODE_ARGS?.split(' ').filter(Boolean), env: { API_WORKERS: String(WORKERS) } });
console.log(`API processes: ${WORKERS}; bare baseline processes: 1`);
const bare = await startProcess('bare-bookings', 'tests/bench/bare-servers.ts', { DATABASE_URL: t.databaseUrl }, { args: ['bookings'] });
try {
  // Enough travellers that none holds more than 3 unpaid bookings, counting every side's bookings (they
  // share the database, and the app and the bare process check the cap): warm-ups, two runs each, the
  // contended flight.
  const users: Awaited<ReturnType<typeof createUser>>[] = [];
  const needed = Math.ceil((200 + 6 * N + 1000) / 3) + CONCURRENCY;
  for (let i = 0; i < needed; i += 100) users.push(...(await Promise.all(Array.from({ length: Math.min(100, needed - i) }, () => createUser(t.db)))));
  let nextUser = 0;
  const nextTraveller = () => users[Math.floor(nextUser++ / 3) % users.length]!;
  const clients = new Map<number, ReturnType<typeof trpcClient>>();
  const passengers = [{ firstName: 'Bench', lastName: 'Traveller' }];

  // Flights: SPREAD_FLIGHTS for the spread runs (app and baseline each get their own), one big flight.
  const spreadApp = await Promise.all(Array.from({ length: SPREAD_FLIGHTS }, () => createFlight(t.db, { seats: 400 })));
  const spreadBase = await Promise.all(Array.from({ length: SPREAD_FLIGHTS }, () => createFlight(t.db, { seats: 400 })));
  const oneApp = await createFlight(t.db, { seats: N + 10 });
  const oneBase = await createFlight(t.db, { seats: N + 10 });

  // A keep-alive node:http client posting tRPC's wire format (what @trpc/client's httpLink sends): the
  // load generator shares this 2-core machine with the API and MariaDB, and undici's fetch costs
  // enough CPU to skew the figure. BENCH_CLIENT=trpc uses @trpc/client instead.
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const post = (baseUrl: string, auth: Record<string, string>, body: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      const data = JSON.stringify(body);
      const url = new URL(baseUrl);
      const req = http.request(
        { agent, host: url.hostname, port: url.port, method: 'POST', path: '/trpc/bookings.create', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...auth } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode === 200) resolve(JSON.parse(text));
            else reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          });
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  const appTask = (flightId: number) => () => {
    const input = { flightId, passengers, idempotencyKey: `bench-${randomUUID()}` };
    const user = nextTraveller();
    if (process.env.BENCH_CLIENT !== 'trpc') return post(t.api.baseUrl, { authorization: `Bearer ${user.accessToken}` }, input);
    if (!clients.has(user.id)) clients.set(user.id, trpcClient(t.api.baseUrl, user.accessToken));
    return clients.get(user.id)!.bookings.create.mutate(input);
  };
  const bareTask = (flightId: number) => () =>
    post(bare.baseUrl, { 'x-user-id': String(nextTraveller().id) }, { flightId, passengers, idempotencyKey: `bench-${randomUUID()}` });

  // Baseline: the same rows a booking writes, in one transaction, straight through mysql2.
  const pool = mysql.createPool({ uri: t.databaseUrl, connectionLimit: CONCURRENCY, timezone: 'Z', flags: ['-FOUND_ROWS'] });
  const baseTask = (flightId: number) => async () => {
    const conn = await pool.getConnection();
    try {
      const userId = nextTraveller().id;
      const key = `bench-${randomUUID()}`;
      const now = new Date();
      await conn.query(
        'INSERT IGNORE INTO idempotency_requests (scope, principal, idempotency_key, fingerprint, status, locked_until, expires_at) VALUES (?,?,?,?,?,?,?)',
        ['bench', `user:${userId}`, key, fingerprint({ flightId, passengers }), 'started', new Date(now.getTime() + 30_000), new Date(now.getTime() + 86_400_000)],
      );
      await conn.beginTransaction();
      const [upd] = await conn.query<mysql.ResultSetHeader>('UPDATE flights SET seats_available = seats_available - 1 WHERE id = ? AND seats_available >= 1', [flightId]);
      if (upd.affectedRows !== 1) throw new Error('sold out');
      await conn.query('SELECT id FROM users WHERE id = ? FOR UPDATE', [userId]);
      await conn.query("SELECT COUNT(*), COALESCE(SUM(seats_held), 0) FROM bookings WHERE user_id = ? AND status = 'pending_payment' AND seats_held > 0 AND (hold_expires_at > ? OR payment_status = 'processing')", [userId, now]);
      const [ins] = await conn.query<mysql.ResultSetHeader>(
        "INSERT INTO bookings (user_id, flight_id, passenger_count, total_minor, currency, status, payment_status, seats_held, hold_expires_at) VALUES (?,?,1,45000,'SAR','pending_payment','unpaid',1,?)",
        [userId, flightId, new Date(now.getTime() + 1_800_000)],
      );
      await conn.query('INSERT INTO booking_passengers (booking_id, position, first_name, last_name) VALUES (?,0,?,?)', [ins.insertId, 'Bench', 'Traveller']);
      await conn.query("INSERT INTO booking_transitions (booking_id, from_status, to_status, reason, actor) VALUES (?,NULL,'pending_payment','booking created',?)", [ins.insertId, `user:${userId}`]);
      await conn.query("UPDATE idempotency_requests SET status = 'completed', response = ? WHERE scope = 'bench' AND principal = ? AND idempotency_key = ?", [JSON.stringify({ id: ins.insertId }), `user:${userId}`, key]);
      await conn.commit();
    } catch (err) {
      await conn.rollback();
      throw err;
    } finally {
      conn.release();
    }
  };

  const spreadBare = await Promise.all(Array.from({ length: SPREAD_FLIGHTS }, () => createFlight(t.db, { seats: 400 })));
  const oneBare = await createFlight(t.db, { seats: N + 10 });
  await runPool(CONCURRENCY, Array.from({ length: 100 }, (_, i) => appTask(spreadApp[i % SPREAD_FLIGHTS]!)));
  await runPool(CONCURRENCY, Array.from({ length: 100 }, (_, i) => bareTask(spreadBare[i % SPREAD_FLIGHTS]!)));
  const table: (ReturnType<typeof row> & { 'server cpu ms/op'?: string })[] = [];
  // CPU the server process spent per booking (one API process only: with more, the work is spread).
  const apiCpu = WORKERS === 1 ? () => processCpuMs(t.api.child.pid!) : undefined;
  const measured = async (cpu: (() => number) | undefined, tasks: (() => Promise<unknown>)[]) => {
    const before = cpu?.();
    const run = await runPool(CONCURRENCY, tasks);
    return { ...run, cpuMsPerOp: cpu && before !== undefined ? (cpu() - before) / tasks.length : undefined };
  };
  const withCpu = (r: ReturnType<typeof row>, m: { cpuMsPerOp?: number }) => ({ ...r, 'server cpu ms/op': m.cpuMsPerOp === undefined ? '' : m.cpuMsPerOp.toFixed(2) });
  const base1 = await measured(undefined, Array.from({ length: N }, (_, i) => baseTask(spreadBase[i % SPREAD_FLIGHTS]!)));
  const bare1 = await measured(bare.cpuMs, Array.from({ length: N }, (_, i) => bareTask(spreadBare[(i + 100) % SPREAD_FLIGHTS]!)));
  const app1 = await measured(apiCpu, Array.from({ length: N }, (_, i) => appTask(spreadApp[i % SPREAD_FLIGHTS]!)));
  const base2 = await measured(undefined, Array.from({ length: N }, () => baseTask(oneBase)));
  const bare2 = await measured(bare.cpuMs, Array.from({ length: N }, () => bareTask(oneBare)));
  const app2 = await measured(apiCpu, Array.from({ length: N }, () => appTask(oneApp)));
  table.push(withCpu(row('baseline: in-process SQL, spread over flights', N, base1.wallMs, base1.latencies), base1));
  table.push(withCpu(row('baseline: bare Express + tRPC + mysql2, spread', N, bare1.wallMs, bare1.latencies), bare1));
  table.push(withCpu(row('app: bookings.create, spread over flights', N, app1.wallMs, app1.latencies), app1));
  table.push(withCpu(row('baseline: in-process SQL, one flight', N, base2.wallMs, base2.latencies), base2));
  table.push(withCpu(row('baseline: bare Express + tRPC + mysql2, one flight', N, bare2.wallMs, bare2.latencies), bare2));
  table.push(withCpu(row('app: bookings.create, one flight', N, app2.wallMs, app2.latencies), app2));

  // Contended: 10x more attempts than seats on one flight; count oversells.
  const seats = 100;
  const contended = await createFlight(t.db, { seats });
  const app3 = await runPool(CONCURRENCY, Array.from({ length: seats * 10 }, () => appTask(contended)));
  table.push(row(`app: ${seats * 10} attempts for ${seats} seats`, seats * 10, app3.wallMs, app3.latencies));
  const okCount = app3.results.filter((r) => r.status === 'fulfilled').length;
  const [[held]] = (await t.db.execute(sql`SELECT COALESCE(SUM(seats_held), 0) AS n FROM bookings WHERE flight_id = ${contended}`)) as unknown as [[{ n: string }]];
  const oversell = Math.max(0, Number(held.n) - seats);
  const violations = await inventoryViolations(t.db, [contended, oneApp, ...spreadApp]);

  const failures = [app1, app2, bare1, bare2].flatMap((r) => r.results.filter((x) => x.status === 'rejected'));
  console.table(table);
  const r = (a: number, b: number) => (table[a]!['ops/s'] / table[b]!['ops/s']).toFixed(2);
  console.log(`spread over flights: ratio vs bare tRPC: ${r(2, 1)} (goal >= 0.7); ratio vs in-process SQL: ${r(2, 0)}`);
  console.log(`one flight:          ratio vs bare tRPC: ${r(5, 4)} (goal >= 0.7); ratio vs in-process SQL: ${r(5, 3)}`);
  if (app1.cpuMsPerOp !== undefined && bare1.cpuMsPerOp !== undefined) {
    console.log(`server CPU per booking vs bare tRPC: ${(app1.cpuMsPerOp / bare1.cpuMsPerOp).toFixed(2)}x spread, ${(app2.cpuMsPerOp! / bare2.cpuMsPerOp!).toFixed(2)}x one flight`);
  }
  console.log(`contended flight: ${okCount} bookings for ${seats} seats; oversell count: ${oversell} (must be 0); inventory violations: ${violations.length}`);
  if (failures.length) console.log(`unexpected failures in the uncontended runs: ${failures.length}; first: ${String((failures[0] as PromiseRejectedResult).reason).slice(0, 300)}`);
  await pool.end();
  agent.destroy();
  process.exitCode = oversell === 0 && violations.length === 0 ? 0 : 1;
} finally {
  await bare.stop();
  await t.close();
}
