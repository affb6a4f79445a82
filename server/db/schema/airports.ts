import { mysqlTable, varchar, char } from 'drizzle-orm/mysql-core';

export const airports = mysqlTable('airports', {
  /** IATA code, upper-case, e.g. RUH. */
  iata: char('iata', { length: 3 }).primaryKey(),
  name: varchar('name', { length: 128 }).notNull(),
  city: varchar('city', { length: 64 }).notNull(),
  /** ISO 3166-1 alpha-2. */
  country: char('country', { length: 2 }).notNull(),
  /** IANA zone, e.g. Asia/Riyadh: search dates are the origin's local dates. */
  timeZone: varchar('time_zone', { length: 64 }).notNull(),
});
