import { and, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/types.js';
import { outbox } from '../db/schema/index.js';

/**
 * The transactional outbox: a job is recorded in the same transaction as the change that causes it,
 * so it can never be lost (the change commits, so does the job) or sent for a change that rolled back.
 * The Stripe calls (a refund, a session expiry) are attempted right after the commit
 * (jobs/outbox-attempt.ts); the worker's relay (jobs/outbox-relay.ts, run every few seconds by the
 * maintenance queue) attempts the rows still pending once they are due.
 */
export const OUTBOX_TOPICS = ['send_booking_confirmation', 'stripe_refund', 'stripe_expire_session'] as const;
export type OutboxTopic = (typeof OUTBOX_TOPICS)[number];

export interface OutboxPayloads {
  send_booking_confirmation: { bookingId: number };
  /** idempotencySuffix: set when re-requesting after a failed refund (the first key would replay it). */
  stripe_refund: { bookingId: number; paymentIntentId: string; reason?: string; idempotencySuffix?: string; amountMinor?: number };
  stripe_expire_session: { bookingId: number; sessionId: string };
}

/**
 * Records a job, due from `availableAt` (the caller's clock: now, usually); the same dedupe key twice
 * records it once. Returns the row id, or null if it existed.
 */
export async function enqueueOutbox<K extends OutboxTopic>(
  tx: DbOrTx,
  topic: K,
  dedupeKey: string,
  payload: OutboxPayloads[K],
  availableAt: Date,
): Promise<number | null> {
  const [res] = await tx.insert(outbox).ignore().values({ topic, dedupeKey: `${topic}:${dedupeKey}`, payload, availableAt });
  return res.affectedRows === 1 ? res.insertId : null;
}

export async function markOutboxDone(tx: DbOrTx, id: number): Promise<void> {
  await tx
    .update(outbox)
    .set({ status: 'dispatched', dispatchedAt: sql`NOW(3)`, attempts: sql`${outbox.attempts} + 1` })
    .where(and(eq(outbox.id, id), eq(outbox.status, 'pending')));
}

/**
 * A failed attempt: leave it pending with an exponential back-off (30 s doubling to at most an hour),
 * or give up (`failed`) for errors no retry cures.
 */
export async function markOutboxAttemptFailed(tx: DbOrTx, id: number, error: string, opts: { permanent?: boolean } = {}): Promise<void> {
  await tx
    .update(outbox)
    .set({
      status: opts.permanent ? 'failed' : 'pending',
      attempts: sql`${outbox.attempts} + 1`,
      lastError: error.slice(0, 2000),
      // MySQL assigns left to right and drizzle emits columns in table order, so this reads attempts
      // AFTER its increment: the first failure (attempts = 1) waits 30 s, the next 60 s, and so on.
      availableAt: sql`NOW(3) + INTERVAL LEAST(15 * POW(2, LEAST(${outbox.attempts}, 12)), 3600) SECOND`,
    })
    .where(and(eq(outbox.id, id), eq(outbox.status, 'pending')));
}
