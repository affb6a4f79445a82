import { and, eq, inArray, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/types.js';
import { outbox } from '../db/schema/index.js';
import { currentRequestId } from '../lib/request-context.js';

/**
 * The transactional outbox: a job is recorded in the same transaction as the change that causes it,
 * so it can never be lost (the change commits, so does the job) or sent for a change that rolled back.
 * Right after the commit the caller hands the row to the job system (`deps.jobs.outboxCommitted`),
 * which makes it BullMQ job `outbox-<id>`; BullMQ owns attempts and back-off, and the row records the
 * final outcome. A row the hand-off missed (Redis down at commit time) is swept by the worker's relay.
 */
export const OUTBOX_TOPICS = ['send_booking_confirmation', 'stripe_refund', 'stripe_expire_session'] as const;
export type OutboxTopic = (typeof OUTBOX_TOPICS)[number];

export interface OutboxPayloads {
  send_booking_confirmation: { bookingId: number };
  /** idempotencySuffix: set when re-requesting after a failed refund (the first key would replay it). */
  stripe_refund: { bookingId: number; paymentIntentId: string; reason?: string; idempotencySuffix?: string; amountMinor?: number };
  stripe_expire_session: { bookingId: number; sessionId: string };
}

export type OutboxRow = typeof outbox.$inferSelect;

/**
 * Records a job, due from `availableAt` (the caller's clock: now, usually); the same dedupe key twice
 * records it once. The request (or job) running now is recorded with it, so the job's log lines carry
 * the id of the click that caused it. Returns the row id, or null if it existed.
 */
export async function enqueueOutbox<K extends OutboxTopic>(
  tx: DbOrTx,
  topic: K,
  dedupeKey: string,
  payload: OutboxPayloads[K],
  availableAt: Date,
): Promise<number | null> {
  const [res] = await tx
    .insert(outbox)
    .ignore()
    .values({ topic, dedupeKey: `${topic}:${dedupeKey}`, payload, availableAt, requestId: currentRequestId() ?? null });
  if (res.affectedRows !== 1) return null;
  const recorded = recordedIn.get(tx) ?? [];
  recorded.push(res.insertId);
  recordedIn.set(tx, recorded);
  return res.insertId;
}

/**
 * Rows recorded through one transaction handle, so a caller that runs several helpers in it (a Stripe
 * event's handlers) hands every one of them over after the commit without each helper reporting back.
 * Keyed weakly by the handle: nothing outlives the transaction.
 */
const recordedIn = new WeakMap<DbOrTx, number[]>();

/** The outbox rows recorded through `tx` (call after it committed). */
export function outboxRecordedIn(tx: DbOrTx): number[] {
  return recordedIn.get(tx) ?? [];
}

/** The job ran to its end: the row is done. Returns false when it was not pending any more. */
export async function markOutboxDone(tx: DbOrTx, id: number): Promise<boolean> {
  const [res] = await tx
    .update(outbox)
    .set({ status: 'dispatched', dispatchedAt: sql`NOW(3)`, attempts: sql`${outbox.attempts} + 1`, lastError: null })
    .where(and(eq(outbox.id, id), eq(outbox.status, 'pending')));
  return res.affectedRows === 1;
}

/**
 * A failed attempt. The row stays pending while BullMQ has attempts left (it owns the back-off); after
 * the last one, or an error no retry cures, it becomes `failed` for a human (`npm run outbox:retry`).
 */
export async function markOutboxAttemptFailed(tx: DbOrTx, id: number, error: string, opts: { final: boolean }): Promise<void> {
  await tx
    .update(outbox)
    .set({ status: opts.final ? 'failed' : 'pending', attempts: sql`${outbox.attempts} + 1`, lastError: error.slice(0, 2000) })
    .where(and(eq(outbox.id, id), eq(outbox.status, 'pending')));
}

/** The rows were handed to BullMQ (the relay sweeps only rows where this is still null). */
export async function markOutboxEnqueued(tx: DbOrTx, ids: readonly number[]): Promise<void> {
  if (!ids.length) return;
  await tx
    .update(outbox)
    .set({ enqueuedAt: sql`NOW(3)` })
    .where(and(inArray(outbox.id, [...ids]), sql`${outbox.enqueuedAt} IS NULL`));
}

/**
 * An operator's requeue of a failed row: pending again, its attempts kept as history, not yet
 * enqueued. Returns the row, or null when there is no failed row with that id.
 */
export async function reopenFailedOutbox(tx: DbOrTx, id: number): Promise<OutboxRow | null> {
  const [res] = await tx
    .update(outbox)
    .set({ status: 'pending', enqueuedAt: null, availableAt: sql`NOW(3)` })
    .where(and(eq(outbox.id, id), eq(outbox.status, 'failed')));
  if (res.affectedRows !== 1) return null;
  const [row] = await tx.select().from(outbox).where(eq(outbox.id, id));
  return row ?? null;
}

/** How many rows wait and how many failed for good: what an operator (and a metrics gauge) watches. */
export async function outboxCounts(db: DbOrTx): Promise<{ pending: number; failed: number }> {
  const rows = await db
    .select({ status: outbox.status, n: sql<number>`COUNT(*)` })
    .from(outbox)
    .where(inArray(outbox.status, ['pending', 'failed']))
    .groupBy(outbox.status);
  const of = (s: string) => Number(rows.find((r) => r.status === s)?.n ?? 0);
  return { pending: of('pending'), failed: of('failed') };
}
