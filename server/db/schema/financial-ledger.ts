import { mysqlTable, varchar, char, bigint, mysqlEnum, uniqueIndex, index, check } from 'drizzle-orm/mysql-core';
import { bookings } from './bookings.js';
import { users } from './users.js';
import { sql } from 'drizzle-orm';
import { id, ref, createdAt } from './columns.js';

/**
 * charge: money received for a payment intent. refund: money returned by one Stripe refund.
 * refund_reversal: a refund Stripe later reported failed, so the money came back to us.
 */
export const LEDGER_ENTRY_TYPES = ['charge', 'refund', 'refund_reversal'] as const;
export type LedgerEntryType = (typeof LEDGER_ENTRY_TYPES)[number];

/**
 * Append-only money ledger: no code path updates or deletes a row; corrections are new entries.
 * `movement_key` names the money movement (`charge:<payment_intent>`, `refund:<refund>`,
 * `refund_reversal:<refund>`), and its
 * unique index makes the same money impossible to book twice, whichever event reports it first.
 */
export const financialLedger = mysqlTable(
  'financial_ledger',
  {
    id: id(),
    entryType: mysqlEnum('entry_type', LEDGER_ENTRY_TYPES).notNull(),
    movementKey: varchar('movement_key', { length: 300 }).notNull(),
    bookingId: ref('booking_id').notNull().references(() => bookings.id),
    userId: ref('user_id').notNull().references(() => users.id),
    /** Always positive; the entry type gives the direction. */
    amountMinor: bigint('amount_minor', { mode: 'number', unsigned: true }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    stripePaymentIntentId: varchar('stripe_payment_intent_id', { length: 255 }).notNull(),
    stripeChargeId: varchar('stripe_charge_id', { length: 255 }),
    /** Null for charges; set for refunds and their reversals. */
    stripeRefundId: varchar('stripe_refund_id', { length: 255 }),
    /**
     * The first event that caused this entry; `reconciliation:<run id>` when a reconciliation run booked
     * it from Stripe's payment intent because its events never reached us (services/stuck-payments.ts).
     */
    stripeEventId: varchar('stripe_event_id', { length: 255 }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('uq_ledger_movement_key').on(t.movementKey),
    index('idx_ledger_refund').on(t.stripeRefundId),
    index('idx_ledger_booking').on(t.bookingId),
    index('idx_ledger_payment_intent').on(t.stripePaymentIntentId),
    check(
      'ck_ledger_movement_key',
      sql`(${t.entryType} = 'charge' AND ${t.stripeRefundId} IS NULL AND ${t.movementKey} = CONCAT('charge:', ${t.stripePaymentIntentId}))
       OR (${t.entryType} = 'refund' AND ${t.stripeRefundId} IS NOT NULL AND ${t.movementKey} = CONCAT('refund:', ${t.stripeRefundId}))
       OR (${t.entryType} = 'refund_reversal' AND ${t.stripeRefundId} IS NOT NULL AND ${t.movementKey} = CONCAT('refund_reversal:', ${t.stripeRefundId}))`,
    ),
    check('ck_ledger_amount_positive', sql`${t.amountMinor} > 0`),
  ],
);
