import './load-dotenv.js';
import { parseArgs } from 'node:util';
import { env } from '../env.js';
import { logger } from '../lib/logger.js';
import { captureException, flushSentry, initSentry } from '../lib/sentry.js';
import { runWithContext } from '../lib/request-context.js';
import { createDatabase } from '../db/client.js';
import { createStripe } from '../lib/stripe.js';
import { createRedis } from '../lib/redis.js';
import { systemClock } from '../deps.js';
import { connectJobs } from '../jobs/dispatcher.js';
import { reconcileWithStripe, summary } from '../services/reconciliation.js';

/**
 * `npm run jobs:reconcile [-- --since <ISO date>]`: the daily reconciliation with Stripe, once, now, in
 * the foreground. Prints a summary; exits 0 when there is nothing for a human, 1 with the mismatches and
 * flagged delayed payments listed when there is, 2 when the run itself failed (Stripe or the database
 * unreachable). With SENTRY_DSN set, its findings and failure go to Sentry as the worker's would.
 */
let since: Date | undefined;
try {
  const { values } = parseArgs({ options: { since: { type: 'string' } }, strict: true });
  if (values.since !== undefined) {
    since = new Date(values.since);
    if (Number.isNaN(since.getTime())) throw new Error(`--since must be an ISO date, e.g. 2026-01-31T00:00:00Z; got "${values.since}"`);
  }
} catch (err) {
  process.stderr.write(`${(err as Error).message}\nusage: npm run jobs:reconcile [-- --since <ISO date>]\n`);
  process.exit(64);
}

initSentry('script', env);
const database = createDatabase(env.DATABASE_URL, { connectionLimit: 2 });
const jobs = connectJobs(database.db, env.REDIS_URL, env.REDIS_KEY_PREFIX);
const stripe = createStripe(env.STRIPE_SECRET_KEY, env.STRIPE_API_BASE);
// Re-driven events that move seats make their searches miss (services/search-cache.ts).
const redis = createRedis(env.REDIS_URL, { keyPrefix: env.REDIS_KEY_PREFIX || undefined, lazyConnect: true });
const out = (line = '') => process.stdout.write(`${line}\n`);
try {
  const report = await runWithContext({ requestId: `reconcile:manual:${Date.now()}` }, () =>
    reconcileWithStripe({ db: database.db, redis, stripe, clock: systemClock, jobs: jobs.dispatcher, config: env }, { since, trigger: 'manual' }),
  );
  const s = summary(report);
  out(`reconciliation run ${report.runId}: ${s.windowStart} .. ${s.windowEnd}`);
  out(`  stripe events seen      ${s.eventsSeen}`);
  out(`  events repaired         ${s.eventsRepaired}`);
  out(`  events still failing    ${s.eventsFailed}`);
  out(`  bookings checked        ${s.bookingsChecked}`);
  out(`  mismatches              ${s.mismatches}`);
  out(`  stuck payments settled  ${s.stuckPaymentsSettled}`);
  out(`  stuck payments flagged  ${s.stuckPaymentsFlagged}`);
  for (const m of report.mismatches) {
    out(`  MISMATCH booking ${m.bookingId} ${m.paymentIntentId}: ledger ${m.ledgerNetMinor} ${m.currency}, Stripe ${m.stripeNetMinor} ${m.currency} (${m.kind}: ${m.reason})`);
  }
  for (const p of report.stuckPayments.filter((x) => x.action === 'flagged')) {
    out(`  STUCK booking ${p.bookingId} ${p.paymentIntentId}: processing since ${p.processingSince}, ${p.stripeStatus} at Stripe (flagged)`);
  }
  process.exitCode = s.mismatches || s.stuckPaymentsFlagged ? 1 : 0;
} catch (err) {
  logger.error({ err }, 'reconciliation failed');
  captureException(err, { job: 'reconcile' });
  process.exitCode = 2;
} finally {
  await flushSentry();
  await jobs.close();
  await database.close();
  redis.disconnect();
}
