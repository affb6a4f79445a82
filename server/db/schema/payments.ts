import { mysqlTable, varchar, char, bigint, mysqlEnum, uniqueIndex, index } from 'drizzle-orm/mysql-core';
import { id, ref, timestamp, createdAt, updatedAt } from './columns.js';
import { bookings } from './bookings.js';

export const PAYMENT_ATTEMPT_STATUSES = ['open', 'processing', 'succeeded', 'failed', 'expired'] as const;

/** One row per Checkout Session we opened: the history of payment attempts of a booking. */
export const payments = mysqlTable(
  'payments',
  {
    id: id(),
    bookingId: ref('booking_id').notNull().references(() => bookings.id),
    stripeCheckoutSessionId: varchar('stripe_checkout_session_id', { length: 255 }).notNull(),
    /** Null until Stripe creates the payment intent (at payment time). */
    stripePaymentIntentId: varchar('stripe_payment_intent_id', { length: 255 }),
    /** Stripe-hosted Checkout page, returned again to a caller who asks while the session is open. */
    checkoutUrl: varchar('checkout_url', { length: 2048 }).notNull(),
    amountMinor: bigint('amount_minor', { mode: 'number', unsigned: true }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    status: mysqlEnum('status', PAYMENT_ATTEMPT_STATUSES).notNull().default('open'),
    expiresAt: timestamp('expires_at').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('uq_payments_checkout_session').on(t.stripeCheckoutSessionId),
    index('idx_payments_booking').on(t.bookingId),
    index('idx_payments_payment_intent').on(t.stripePaymentIntentId),
  ],
);
