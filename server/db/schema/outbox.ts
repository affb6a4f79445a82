import { mysqlTable, varchar, mysqlEnum, uniqueIndex, index, json, int, text } from 'drizzle-orm/mysql-core';
import { id, timestamp, createdAt, updatedAt } from './columns.js';

export const OUTBOX_STATUSES = ['pending', 'dispatched', 'failed'] as const;

/**
 * Jobs recorded in the same transaction as the change that causes them. Stripe calls are attempted
 * right after the commit (jobs/outbox-attempt.ts) and retried by the worker's relay
 * (jobs/outbox-relay.ts), which reads this table directly. `dedupe_key` stops one cause from
 * recording the same job twice.
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
    /** Not dispatched before this moment (backoff). */
    availableAt: timestamp('available_at').notNull(),
    dispatchedAt: timestamp('dispatched_at'),
    lastError: text('last_error'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('uq_outbox_dedupe_key').on(t.dedupeKey),
    index('idx_outbox_status_available').on(t.status, t.availableAt),
  ],
);
