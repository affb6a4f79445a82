import { and, asc, eq, inArray, lte } from 'drizzle-orm';
import { outbox } from '../db/schema/index.js';
import { runOutboxJobNow } from './run-now.js';
import type { StripeJobDeps } from './stripe-calls.js';

/** Topics the relay runs itself today; e-mail (send_booking_confirmation) waits for its sender. */
const RELAYED_TOPICS = ['stripe_refund', 'stripe_expire_session'] as const;
/**
 * Runs the outbox jobs that are due: the retry path of every Stripe call that failed right after its
 * commit. Each row is leased before it runs (see runOutboxJobNow), so two workers never run the same
 * row at once (and the Stripe calls are idempotent besides).
 */
export async function relayOutbox(deps: StripeJobDeps, opts: { limit?: number; now?: Date } = {}): Promise<{ done: number; retry: number; failed: number }> {
  const now = opts.now ?? new Date();
  const due = await deps.db
    .select({ id: outbox.id })
    .from(outbox)
    .where(and(eq(outbox.status, 'pending'), inArray(outbox.topic, [...RELAYED_TOPICS]), lte(outbox.availableAt, now)))
    .orderBy(asc(outbox.availableAt))
    .limit(opts.limit ?? 50);
  const tally = { done: 0, retry: 0, failed: 0 };
  for (const row of due) {
    // runOutboxJobNow leases the row first, so a row another runner holds comes back 'skipped'.
    const outcome = await runOutboxJobNow(deps, row.id);
    if (outcome === 'done') tally.done++;
    else if (outcome === 'failed') tally.failed++;
    else if (outcome === 'retry') tally.retry++;
  }
  return tally;
}
