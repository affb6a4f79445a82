import { mysqlTable, varchar, char, int, bigint, uniqueIndex, index, check } from 'drizzle-orm/mysql-core';
import { sql } from 'drizzle-orm';
import { id, timestamp, createdAt, updatedAt } from './columns.js';
import { airports } from './airports.js';

export const flights = mysqlTable(
  'flights',
  {
    id: id(),
    flightNumber: varchar('flight_number', { length: 8 }).notNull(),
    origin: char('origin', { length: 3 }).notNull().references(() => airports.iata),
    destination: char('destination', { length: 3 }).notNull().references(() => airports.iata),
    departureAt: timestamp('departure_at').notNull(),
    arrivalAt: timestamp('arrival_at').notNull(),
    /** Price per passenger in minor units of `currency` (halalas for SAR). */
    priceMinor: bigint('price_minor', { mode: 'number', unsigned: true }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    seatsTotal: int('seats_total').notNull(),
    /**
     * Seats no booking holds (seats_total minus every booking's seats_held). A pending_payment or
     * confirmed booking holds its seats; a refund request gives them back at once, so a refund_pending
     * booking holds none, nor does a cancelled, expired, failed or refunded one.
     */
    seatsAvailable: int('seats_available').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('uq_flights_number_departure').on(t.flightNumber, t.departureAt),
    index('idx_flights_route_departure').on(t.origin, t.destination, t.departureAt),
    check('ck_flights_seats_range', sql`${t.seatsAvailable} >= 0 AND ${t.seatsAvailable} <= ${t.seatsTotal}`),
    check('ck_flights_arrival_after_departure', sql`${t.arrivalAt} > ${t.departureAt}`),
  ],
);
