import { and, asc, eq, inArray, lte } from 'drizzle-orm';
import { outbox } from '../db/schema/index.js';
import { attemptOutboxJob } from './outbox-attempt.js';
import type { StripeJobDeps } from './stripe-calls.js';

/** Topics the relay runs; send_booking_confirmation rows wait for the e-mail job to take them. */
const RELAYED_TOPICS = ['stripe_refund', 'stripe_expire_session'] as const;
/**
 * Runs the outbox jobs that are due: the retry path of every Stripe call that failed right after its
 * commit. Each row is leased before it runs (see attemptOutboxJob), so two workers never run the same
 * row at once (and the Stripe calls are idempotent besides).
 */
export async function relayOutbox(deps: StripeJobDeps, opts: { limit?: number } = {}): Promise<{ done: number; retry: number; failed: number }> {
  const now = deps.clock.now();
  const due = await deps.db
    .select({ id: outbox.id })
    .from(outbox)
    .where(and(eq(outbox.status, 'pending'), inArray(outbox.topic, [...RELAYED_TOPICS]), lte(outbox.availableAt, now)))
    .orderBy(asc(outbox.availableAt))
    .limit(opts.limit ?? 50);
  const tally = { done: 0, retry: 0, failed: 0 };
  for (const row of due) {
    // attemptOutboxJob leases the row first, so a row another runner holds comes back 'skipped'.
    const outcome = await attemptOutboxJob(deps, row.id);
    if (outcome === 'done') tally.done++;
    else if (outcome === 'failed') tally.failed++;
    else if (outcome === 'retry') tally.retry++;
  }
  return tally;
}
