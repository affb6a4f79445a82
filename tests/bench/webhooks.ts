/**
 * npm run bench:webhooks [-- --n=300 --concurrency=50]
 *
 * N payments, each delivered as its three events (checkout.session.completed,
 * payment_intent.succeeded, charge.succeeded) plus two duplicate deliveries, shuffled, at 50
 * concurrent connections, to the API running as its own process. Prints events per second, p50/p99,
 * and the ledger check: exactly N charge entries, N confirmed bookings, N confirmation jobs. Then N
 * other payments, delivered the same way to a bare Express + Stripe SDK + mysql2 process making the same
 * inserts and updates (tests/bench/bare-servers.ts), and the ratio of the two.
 */
import '../support/setup-env.js';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { trpcClient } from '../support/harness.js';
import { startE2E } from '../support/e2e.js';
import { createUser } from '../support/users.js';
import { createFlight } from '../support/flights.js';
import { shuffle } from '../support/booking-flow.js';
import { intArg, row, runPool } from './bench-utils.js';
import { startProcess } from './processes.js';

const N = intArg('n', 300);
const CONCURRENCY = intArg('concurrency', 50);

// Each bench client holds hundreds of unpaid bookings: the per-account hold cap (3 bookings, 9 seats by
// default) is raised for the benchmark, explicitly, because it measures the booking path, not the cap.
const t = await startE2E({
  nodeArgs: process.env.BENCH_API_NODE_ARGS?.split(' ').filter(Boolean),
  env: { MAX_UNPAID_BOOKINGS_PER_USER: '10000', MAX_UNPAID_SEATS_PER_USER: '100000' },
});
const bare = await startProcess('bare-webhooks', 'tests/bench/bare-servers.ts', { DATABASE_URL: t.databaseUrl, STRIPE_WEBHOOK_SECRET: process.env.STRIPE_WEBHOOK_SECRET }, { args: ['webhooks'] });
try {
  // Setup (not timed): 2N bookings with open Checkout Sessions, through the API: N for each side.
  const users = await Promise.all(Array.from({ length: 20 }, () => createUser(t.db)));
  const flights = await Promise.all(Array.from({ length: 20 }, () => createFlight(t.db, { seats: 400 })));
  const setup = await runPool(
    20,
    Array.from({ length: 2 * N }, (_, i) => async () => {
      const client = trpcClient(t.api.baseUrl, users[i % users.length]!.accessToken);
      const booking = await client.bookings.create.mutate({ flightId: flights[i % flights.length]!, passengers: [{ firstName: 'Bench', lastName: 'Payer' }], idempotencyKey: `wh-${randomUUID()}` });
      return client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: `wh-${randomUUID()}` });
    }),
  );
  const sessions = setup.results.map((r) => {
    if (r.status !== 'fulfilled') throw r.reason;
    return r.value.sessionId;
  });

  // Each payment: its three events plus two duplicates of them; all shuffled together.
  const deliveriesOf = (ids: string[]) =>
    shuffle(
      ids.flatMap((id, i) => {
        const events = t.fakeStripe.completeSession(id);
        return [...events, events[i % 3]!, events[(i + 1) % 3]!];
      }),
      2026,
    );
  const deliveries = deliveriesOf(sessions.slice(0, N));
  const bareDeliveries = deliveriesOf(sessions.slice(N));
  const run = await runPool(CONCURRENCY, deliveries.map((e) => () => t.fakeStripe.deliver(e)));
  const statuses = new Map<number, number>();
  for (const r of run.results) {
    const status = r.status === 'fulfilled' ? r.value.status : 0;
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }

  const [[counts]] = (await t.db.execute(sql`
    SELECT (SELECT COUNT(*) FROM financial_ledger WHERE entry_type = 'charge') AS charges,
           (SELECT COUNT(DISTINCT stripe_payment_intent_id) FROM financial_ledger WHERE entry_type = 'charge') AS paymentIntents,
           (SELECT COUNT(*) FROM bookings WHERE status = 'confirmed') AS confirmed,
           (SELECT COUNT(*) FROM outbox WHERE topic = 'send_booking_confirmation') AS confirmations,
           (SELECT COUNT(*) FROM stripe_events WHERE NOT processed) AS unprocessed`)) as unknown as [[Record<string, string>]];

  // After the app's ledger check, so the bare process's rows are not counted in it.
  const bareUrl = `${bare.baseUrl}/webhooks/stripe`;
  const bareRun = await runPool(CONCURRENCY, bareDeliveries.map((e) => () => t.fakeStripe.deliver(e, { url: bareUrl })));
  const bareFailed = bareRun.results.filter((r) => r.status !== 'fulfilled' || r.value.status !== 200).length;

  const table = [
    row(`baseline: bare Express + mysql2 (${N} payments x 5)`, bareDeliveries.length, bareRun.wallMs, bareRun.latencies),
    row(`app: webhook deliveries (${N} payments x 5)`, deliveries.length, run.wallMs, run.latencies),
  ];
  console.table(table);
  console.log(`ratio vs bare: ${(table[1]!['ops/s'] / table[0]!['ops/s']).toFixed(2)}; baseline failures: ${bareFailed}`);
  console.log(`HTTP statuses: ${[...statuses].map(([s, n]) => `${s}: ${n}`).join(', ')}`);
  const charges = Number(counts.charges);
  console.log(
    `ledger check: ${charges} charge entries for ${N} payments (${counts.paymentIntents} distinct payment intents); ` +
      `${counts.confirmed} bookings confirmed; ${counts.confirmations} confirmation jobs; ${counts.unprocessed} unprocessed events -> ${charges === N ? 'OK' : 'MISMATCH'}`,
  );
  process.exitCode = charges === N && Number(counts.confirmed) === N && (statuses.get(200) ?? 0) === deliveries.length ? 0 : 1;
} finally {
  await bare.stop();
  await t.close();
}
