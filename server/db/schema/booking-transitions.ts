import { mysqlTable, varchar, mysqlEnum, index } from 'drizzle-orm/mysql-core';
import { bookings, BOOKING_STATUSES } from './bookings.js';
import { id, ref, createdAt } from './columns.js';

/** Append-only audit of every status change. */
export const bookingTransitions = mysqlTable(
  'booking_transitions',
  {
    id: id(),
    bookingId: ref('booking_id').notNull().references(() => bookings.id, { onDelete: 'cascade' }),
    /** Null for the creation of the booking. */
    fromStatus: mysqlEnum('from_status', BOOKING_STATUSES),
    toStatus: mysqlEnum('to_status', BOOKING_STATUSES).notNull(),
    reason: varchar('reason', { length: 255 }).notNull(),
    /** Who caused it: `user:42`, `stripe:evt_...`, `system:hold-expiry`. */
    actor: varchar('actor', { length: 128 }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('idx_booking_transitions_booking').on(t.bookingId, t.id)],
);
