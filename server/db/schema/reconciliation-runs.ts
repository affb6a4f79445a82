import { mysqlTable, varchar, mysqlEnum, index, json, int, text } from 'drizzle-orm/mysql-core';
import { sql } from 'drizzle-orm';
import { id, timestamp } from './columns.js';

export const RECONCILIATION_STATUSES = ['running', 'ok', 'mismatch', 'error'] as const;
export type ReconciliationStatus = (typeof RECONCILIATION_STATUSES)[number];

/**
 * Which way the ledger and Stripe disagree, the grouping of mismatches in Sentry:
 * - `payment_missing_in_ledger`: Stripe holds a payment the ledger has no charge for;
 * - `payment_missing_at_stripe`: the ledger books a charge for a payment intent Stripe does not show paid;
 * - `ledger_above_stripe`: the ledger holds more than Stripe (typically a refund made at Stripe, in the
 *   Dashboard, whose events we lack);
 * - `ledger_below_stripe`: the ledger holds less (a refund booked that Stripe never made, a reversal missed).
 */
export const MISMATCH_KINDS = ['payment_missing_in_ledger', 'payment_missing_at_stripe', 'ledger_above_stripe', 'ledger_below_stripe'] as const;
export type MismatchKind = (typeof MISMATCH_KINDS)[number];

/** One booking whose ledger and Stripe disagree: net money in (charges - refunds + reversals), both sides. */
export interface ReconciliationMismatch {
  /** Absent in runs recorded before kinds existed. */
  kind?: MismatchKind;
  bookingId: number;
  paymentIntentId: string;
  /** charges - refunds + refund reversals in our ledger, minor units. */
  ledgerNetMinor: number;
  /** amount_received - amount_refunded of the payment intent's charges at Stripe, minor units. */
  stripeNetMinor: number;
  currency: string;
  reason: string;
}

/**
 * One run of the reconciliation with Stripe (jobs/reconcile.ts via services/reconciliation.ts): the
 * window read, what it repaired, and every booking whose ledger disagrees with Stripe.
 */
export const reconciliationRuns = mysqlTable(
  'reconciliation_runs',
  {
    id: id(),
    /** `schedule` (the 02:00 Asia/Riyadh job) or `manual` (npm run jobs:reconcile). */
    triggeredBy: varchar('triggered_by', { length: 16 }).notNull(),
    status: mysqlEnum('status', RECONCILIATION_STATUSES).notNull().default('running'),
    /** Stripe events created at or after this moment were read. */
    windowStart: timestamp('window_start').notNull(),
    windowEnd: timestamp('window_end').notNull(),
    /** Events of the handled types Stripe listed in the window. */
    eventsSeen: int('events_seen').notNull().default(0),
    /** Events we never received (stored now) or had stored unprocessed, and processed by this run. */
    eventsRepaired: int('events_repaired').notNull().default(0),
    bookingsChecked: int('bookings_checked').notNull().default(0),
    mismatchCount: int('mismatch_count').notNull().default(0),
    /** ReconciliationMismatch[] */
    mismatches: json('mismatches').$type<ReconciliationMismatch[]>().notNull(),
    /** Set when the run itself failed (Stripe unreachable): its figures are partial. */
    error: text('error'),
    requestId: varchar('request_id', { length: 128 }),
    startedAt: timestamp('started_at').notNull().default(sql`CURRENT_TIMESTAMP(3)`),
    finishedAt: timestamp('finished_at'),
  },
  (t) => [index('idx_reconciliation_runs_started').on(t.startedAt)],
);
