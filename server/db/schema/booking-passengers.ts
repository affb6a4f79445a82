import { mysqlTable, varchar, int, uniqueIndex } from 'drizzle-orm/mysql-core';
import { bookings } from './bookings.js';
import { id, ref } from './columns.js';

export const bookingPassengers = mysqlTable(
  'booking_passengers',
  {
    id: id(),
    bookingId: ref('booking_id').notNull().references(() => bookings.id, { onDelete: 'cascade' }),
    /** 0-based order as the traveller entered them. */
    position: int('position').notNull(),
    firstName: varchar('first_name', { length: 64 }).notNull(),
    lastName: varchar('last_name', { length: 64 }).notNull(),
  },
  (t) => [uniqueIndex('uq_booking_passengers_position').on(t.bookingId, t.position)],
);
