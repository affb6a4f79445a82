import { mysqlTable, varchar, char, int, bigint, mysqlEnum, uniqueIndex, index, boolean, check } from 'drizzle-orm/mysql-core';
import { sql } from 'drizzle-orm';
import { id, ref, timestamp, createdAt, updatedAt } from './columns.js';
import { users } from './users.js';
import { flights } from './flights.js';

export const BOOKING_STATUSES = [
  'pending_payment',
  'confirmed',
  'failed',
  'expired',
  'cancelled',
  'refund_pending',
  'refunded',
] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

export const PAYMENT_STATUSES = ['unpaid', 'processing', 'paid', 'partially_refunded', 'refunded', 'failed'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const bookings = mysqlTable(
  'bookings',
  {
    id: id(),
    userId: ref('user_id').notNull().references(() => users.id),
    flightId: ref('flight_id').notNull().references(() => flights.id),
    passengerCount: int('passenger_count').notNull(),
    totalMinor: bigint('total_minor', { mode: 'number', unsigned: true }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    /** Changed only through services/booking-state.ts, which writes booking_transitions. */
    status: mysqlEnum('status', BOOKING_STATUSES).notNull().default('pending_payment'),
    paymentStatus: mysqlEnum('payment_status', PAYMENT_STATUSES).notNull().default('unpaid'),
    /**
     * Seats this booking currently takes from the flight: passengerCount while held, 0 once released.
     * Releasing is a conditional UPDATE on this column, so seats go back exactly once whatever the path.
     */
    seatsHeld: int('seats_held').notNull(),
    /** When an unpaid hold lapses; null once the booking is paid or closed. */
    holdExpiresAt: timestamp('hold_expires_at'),
    /** The open (or last) Checkout Session; null until payments.createCheckoutSession. */
    stripeCheckoutSessionId: varchar('stripe_checkout_session_id', { length: 255 }),
    stripeCheckoutSessionExpiresAt: timestamp('stripe_checkout_session_expires_at'),
    /** Null while the booking is unpaid. */
    stripePaymentIntentId: varchar('stripe_payment_intent_id', { length: 255 }),
    /** Set when something needs a human: a failed refund, a payment we could not match. */
    needsAttention: boolean('needs_attention').notNull().default(false),
    attentionReason: varchar('attention_reason', { length: 255 }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('idx_bookings_user_id').on(t.userId, t.id),
    index('idx_bookings_flight_status').on(t.flightId, t.status),
    index('idx_bookings_status_hold').on(t.status, t.holdExpiresAt),
    /** The needs_attention gauge counts flagged bookings on every metrics scrape. */
    index('idx_bookings_needs_attention').on(t.needsAttention),
    uniqueIndex('uq_bookings_checkout_session').on(t.stripeCheckoutSessionId),
    uniqueIndex('uq_bookings_payment_intent').on(t.stripePaymentIntentId),
    check('ck_bookings_passengers', sql`${t.passengerCount} BETWEEN 1 AND 9`),
    check('ck_bookings_seats_held', sql`${t.seatsHeld} >= 0 AND ${t.seatsHeld} <= ${t.passengerCount}`),
  ],
);
