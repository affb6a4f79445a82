import { sql } from 'drizzle-orm';
import type { Db } from '../db/types.js';

/**
 * What operations watch in the database: the outbox backlog, Stripe events not yet processed, and
 * everything flagged for a human. Read by the metrics endpoint (on scrape, cached) and by the
 * readiness probe's queue check. One round trip; each count is served by an index.
 */
export interface OpsSnapshot {
  outboxPending: number;
  /** Age of the oldest pending outbox row, by the database's clock (which stamps created_at); 0 when none. */
  outboxOldestPendingSeconds: number;
  stripeEventsUnprocessed: number;
  needsAttention: { booking: number; stripe_event: number; outbox: number };
}

/** Milliseconds since the oldest pending outbox row was recorded, by the clock that stamped it; NULL when none. */
const OLDEST_PENDING_AGE_MS = sql`(SELECT TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(3)) DIV 1000 FROM outbox WHERE status = 'pending')`;

/**
 * Milliseconds the oldest due row not yet handed to the queue has waited for it, since it was due: the
 * later of its commit and `available_at` (a requeued row is due again from its requeue). The hand-off
 * right after the commit, or the relay 10 s later, normally takes every row, so this grows only when
 * nothing hands rows over (the worker's relay is stuck or cannot reach Redis). Rows already in the queue
 * and backing off (an SMTP outage, Stripe down) are the queue's business and do not count. NULL when none.
 */
const OLDEST_UNRELAYED_AGE_MS = sql`(SELECT TIMESTAMPDIFF(MICROSECOND, MIN(GREATEST(created_at, available_at)), NOW(3)) DIV 1000
  FROM outbox WHERE status = 'pending' AND enqueued_at IS NULL AND available_at <= NOW(3))`;

/** The readiness probe's outbox figures, in seconds (0 when none): the backlog, and what waits for the relay. */
export async function outboxAges(db: Db): Promise<{ oldestPendingSeconds: number; oldestUnrelayedSeconds: number }> {
  const [rows] = (await db.execute(sql`SELECT ${OLDEST_PENDING_AGE_MS} AS oldest_age_ms, ${OLDEST_UNRELAYED_AGE_MS} AS unrelayed_age_ms`)) as unknown as [
    { oldest_age_ms: string | number | null; unrelayed_age_ms: string | number | null }[],
  ];
  const seconds = (ms: string | number | null | undefined) => Math.max(0, Number(ms ?? 0) / 1000);
  return { oldestPendingSeconds: seconds(rows[0]?.oldest_age_ms), oldestUnrelayedSeconds: seconds(rows[0]?.unrelayed_age_ms) };
}

type Row = Record<'outbox_pending' | 'oldest_age_ms' | 'events_unprocessed' | 'attention_booking' | 'attention_event' | 'attention_outbox', string | number | null>;

export async function readOpsSnapshot(db: Db): Promise<OpsSnapshot> {
  const [rows] = (await db.execute(sql`
    SELECT
      (SELECT COUNT(*) FROM outbox WHERE status = 'pending') AS outbox_pending,
      ${OLDEST_PENDING_AGE_MS} AS oldest_age_ms,
      (SELECT COUNT(*) FROM stripe_events WHERE processed = 0) AS events_unprocessed,
      (SELECT COUNT(*) FROM bookings WHERE needs_attention = 1) AS attention_booking,
      (SELECT COUNT(*) FROM stripe_events WHERE needs_attention = 1) AS attention_event,
      (SELECT COUNT(*) FROM outbox WHERE status = 'failed') AS attention_outbox
  `)) as unknown as [Row[]];
  const row = rows[0]!;
  const n = (v: string | number | null) => Number(v ?? 0);
  return {
    outboxPending: n(row.outbox_pending),
    outboxOldestPendingSeconds: Math.max(0, n(row.oldest_age_ms) / 1000),
    stripeEventsUnprocessed: n(row.events_unprocessed),
    needsAttention: { booking: n(row.attention_booking), stripe_event: n(row.attention_event), outbox: n(row.attention_outbox) },
  };
}
