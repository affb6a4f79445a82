import { mysqlTable, varchar, mysqlEnum, uniqueIndex, index, json, int, text } from 'drizzle-orm/mysql-core';
import { id, timestamp, createdAt, updatedAt } from './columns.js';

export const OUTBOX_STATUSES = ['pending', 'dispatched', 'failed'] as const;

/**
 * Jobs recorded in the same transaction as the change that causes them. Right after the commit each row
 * is handed to BullMQ as job `outbox-<id>` (services/job-dispatcher.ts, jobs/dispatcher.ts); BullMQ owns
 * the attempts and back-off, and the row records the final outcome. The relay (jobs/outbox-relay.ts)
 * only sweeps rows never handed over (Redis down at commit time). `dedupe_key` stops one cause from
 * recording the same job twice.
 *
 * pending: not finished (queued, running or backing off). dispatched: done. failed: its last attempt
 * failed, or it failed in a way no retry cures; `npm run outbox:retry -- <id>` requeues it.
 */
export const outbox = mysqlTable(
  'outbox',
  {
    id: id(),
    /** Job name, e.g. `send_booking_confirmation`, `stripe_refund`, `stripe_expire_session`. */
    topic: varchar('topic', { length: 64 }).notNull(),
    dedupeKey: varchar('dedupe_key', { length: 255 }).notNull(),
    payload: json('payload').notNull(),
    status: mysqlEnum('status', OUTBOX_STATUSES).notNull().default('pending'),
    attempts: int('attempts').notNull().default(0),
    /** Not run before this moment: the BullMQ job is delayed until then. */
    availableAt: timestamp('available_at').notNull(),
    /** When the row was handed to BullMQ; null = never (the relay sweeps these). */
    enqueuedAt: timestamp('enqueued_at'),
    /** The request (or job) that caused it: its job's log lines carry the same id. */
    requestId: varchar('request_id', { length: 128 }),
    dispatchedAt: timestamp('dispatched_at'),
    lastError: text('last_error'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('uq_outbox_dedupe_key').on(t.dedupeKey),
    index('idx_outbox_status_available').on(t.status, t.availableAt),
    index('idx_outbox_status_enqueued').on(t.status, t.enqueuedAt),
  ],
);
