import { bigint, datetime } from 'drizzle-orm/mysql-core';
import { sql } from 'drizzle-orm';

/** Surrogate keys: unsigned BIGINT auto-increment, read as JS numbers (safe far beyond our volumes). */
export const id = () => bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey();
export const ref = (name: string) => bigint(name, { mode: 'number', unsigned: true });

/** All times are UTC with millisecond precision; the pool sets the session time zone to +00:00. */
export const timestamp = (name: string) => datetime(name, { mode: 'date', fsp: 3 });
export const createdAt = () => timestamp('created_at').notNull().default(sql`CURRENT_TIMESTAMP(3)`);
export const updatedAt = () =>
  timestamp('updated_at').notNull().default(sql`CURRENT_TIMESTAMP(3)`).$onUpdate(() => new Date());
