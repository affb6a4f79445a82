import { mysqlTable, varchar, mysqlEnum, uniqueIndex } from 'drizzle-orm/mysql-core';
import { id, createdAt, updatedAt } from './columns.js';

export const USER_ROLES = ['traveller', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const users = mysqlTable(
  'users',
  {
    id: id(),
    /** Trimmed and lower-cased before it is stored, so uniqueness is case-insensitive. */
    email: varchar('email', { length: 254 }).notNull(),
    /** argon2id PHC string (parameters embedded, so they can be raised without a migration). */
    passwordHash: varchar('password_hash', { length: 255 }).notNull(),
    name: varchar('name', { length: 100 }).notNull(),
    role: mysqlEnum('role', USER_ROLES).notNull().default('traveller'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('uq_users_email').on(t.email)],
);
