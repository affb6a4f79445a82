/**
 * npm run bench:bookings [-- --n=2000 --concurrency=50]
 *
 * Booking creations per second and p50/p99 latency at 50 concurrent clients, through the real stack
 * (the API process, tRPC over HTTP, JWT, zod, idempotency, seat hold, booking, passengers, audit
 * row), against a
 * baseline measured in the same run: a bare mysql2 transaction doing the same writes. Scenarios:
 * spread over many flights, all on one flight, and a contended flight that must not oversell.
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

const N = intArg('n', 2000);
const CONCURRENCY = intArg('concurrency', 50);
const SPREAD_FLIGHTS = 200;

// The API runs as its own process, as deployed; this process only plays the clients and the baseline.
// BENCH_API_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the API process.
// Each bench client holds hundreds of unpaid bookings: the per-account hold cap (3 bookings, 9 seats by
// default) is raised for the benchmark, explicitly, because it measures the booking path, not the cap.
const t = await startE2E({
  nodeArgs: process.env.BENCH_API_NODE_ARGS?.split(' ').filter(Boolean),
  env: { MAX_UNPAID_BOOKINGS_PER_USER: '10000', MAX_UNPAID_SEATS_PER_USER: '100000' },
});
try {
  const users = await Promise.all(Array.from({ length: CONCURRENCY }, () => createUser(t.db)));
  const clients = users.map((u) => trpcClient(t.api.baseUrl, u.accessToken));
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
  const api = new URL(t.api.baseUrl);
  const post = (token: string, body: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = http.request(
        { agent, host: api.hostname, port: api.port, method: 'POST', path: '/trpc/bookings.create', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), authorization: `Bearer ${token}` } },
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
  const appTask = (flightId: number, i: number) => () => {
    const input = { flightId, passengers, idempotencyKey: `bench-${randomUUID()}` };
    return process.env.BENCH_CLIENT === 'trpc'
      ? clients[i % clients.length]!.bookings.create.mutate(input)
      : post(users[i % users.length]!.accessToken, input);
  };

  // Baseline: the same rows a booking writes, in one transaction, straight through mysql2.
  const pool = mysql.createPool({ uri: t.databaseUrl, connectionLimit: CONCURRENCY, timezone: 'Z', flags: ['-FOUND_ROWS'] });
  const baseTask = (flightId: number, i: number) => async () => {
    const conn = await pool.getConnection();
    try {
      const userId = users[i % users.length]!.id;
      const key = `bench-${randomUUID()}`;
      const now = new Date();
      await conn.query(
        'INSERT IGNORE INTO idempotency_requests (scope, principal, idempotency_key, fingerprint, status, locked_until, expires_at) VALUES (?,?,?,?,?,?,?)',
        ['bench', `user:${userId}`, key, fingerprint({ flightId, passengers }), 'started', new Date(now.getTime() + 30_000), new Date(now.getTime() + 86_400_000)],
      );
      await conn.beginTransaction();
      const [upd] = await conn.query<mysql.ResultSetHeader>('UPDATE flights SET seats_available = seats_available - 1 WHERE id = ? AND seats_available >= 1', [flightId]);
      if (upd.affectedRows !== 1) throw new Error('sold out');
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

  const warm = await runPool(CONCURRENCY, Array.from({ length: 100 }, (_, i) => appTask(spreadApp[i % SPREAD_FLIGHTS]!, i)));
  void warm;
  const table = [];
  const base1 = await runPool(CONCURRENCY, Array.from({ length: N }, (_, i) => baseTask(spreadBase[i % SPREAD_FLIGHTS]!, i)));
  const app1 = await runPool(CONCURRENCY, Array.from({ length: N }, (_, i) => appTask(spreadApp[i % SPREAD_FLIGHTS]!, i)));
  const base2 = await runPool(CONCURRENCY, Array.from({ length: N }, (_, i) => baseTask(oneBase, i)));
  const app2 = await runPool(CONCURRENCY, Array.from({ length: N }, (_, i) => appTask(oneApp, i)));
  table.push(row('baseline: bare SQL, spread over flights', N, base1.wallMs, base1.latencies));
  table.push(row('app: bookings.create, spread over flights', N, app1.wallMs, app1.latencies));
  table.push(row('baseline: bare SQL, one flight', N, base2.wallMs, base2.latencies));
  table.push(row('app: bookings.create, one flight', N, app2.wallMs, app2.latencies));

  // Contended: 10x more attempts than seats on one flight; count oversells.
  const seats = 100;
  const contended = await createFlight(t.db, { seats });
  const app3 = await runPool(CONCURRENCY, Array.from({ length: seats * 10 }, (_, i) => appTask(contended, i)));
  table.push(row(`app: ${seats * 10} attempts for ${seats} seats`, seats * 10, app3.wallMs, app3.latencies));
  const okCount = app3.results.filter((r) => r.status === 'fulfilled').length;
  const [[held]] = (await t.db.execute(sql`SELECT COALESCE(SUM(seats_held), 0) AS n FROM bookings WHERE flight_id = ${contended}`)) as unknown as [[{ n: string }]];
  const oversell = Math.max(0, Number(held.n) - seats);
  const violations = await inventoryViolations(t.db, [contended, oneApp, ...spreadApp]);

  const failures = [app1, app2].flatMap((r) => r.results.filter((x) => x.status === 'rejected'));
  console.table(table);
  const ratio = (table[1]!['ops/s'] / table[0]!['ops/s']).toFixed(2);
  console.log(`spread-out ratio app/baseline: ${ratio} (aim: >= 0.50)`);
  console.log(`one-flight ratio app/baseline: ${(table[3]!['ops/s'] / table[2]!['ops/s']).toFixed(2)}`);
  console.log(`contended flight: ${okCount} bookings for ${seats} seats; oversell count: ${oversell} (must be 0); inventory violations: ${violations.length}`);
  if (failures.length) console.log(`unexpected failures in the uncontended runs: ${failures.length}`);
  await pool.end();
  agent.destroy();
  process.exitCode = oversell === 0 && violations.length === 0 ? 0 : 1;
} finally {
  await t.close();
}
