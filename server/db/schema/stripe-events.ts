import { mysqlTable, varchar, index, json, int, boolean, text, check } from 'drizzle-orm/mysql-core';
import { sql } from 'drizzle-orm';
import { timestamp, createdAt, updatedAt } from './columns.js';

/** Every verified Stripe event, stored before it is processed. */
export const stripeEvents = mysqlTable(
  'stripe_events',
  {
    /** Stripe's event id, evt_... */
    id: varchar('id', { length: 255 }).primaryKey(),
    type: varchar('type', { length: 128 }).notNull(),
    apiVersion: varchar('api_version', { length: 64 }),
    /** Stripe's `created`, as a time. */
    stripeCreatedAt: timestamp('stripe_created_at').notNull(),
    payload: json('payload').notNull(),
    /** Only true stops reprocessing; set in the same transaction as the event's effects. */
    processed: boolean('processed').notNull().default(false),
    processedAt: timestamp('processed_at'),
    retryCount: int('retry_count').notNull().default(0),
    lastError: text('last_error'),
    /** A failure no retry can cure (unknown booking, amount mismatch): a human must look. */
    needsAttention: boolean('needs_attention').notNull().default(false),
    receivedAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('idx_stripe_events_unprocessed').on(t.processed, t.receivedAt),
    index('idx_stripe_events_type_created').on(t.type, t.stripeCreatedAt),
    /** The needs_attention gauge counts flagged events on every metrics scrape. */
    index('idx_stripe_events_needs_attention').on(t.needsAttention),
    check('ck_stripe_events_retry_count', sql`${t.retryCount} >= 0`),
  ],
);
