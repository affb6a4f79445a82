import { mysqlTable, varchar, char, mysqlEnum, uniqueIndex, index, json, customType } from 'drizzle-orm/mysql-core';
import { id, timestamp, createdAt, updatedAt } from './columns.js';

export const IDEMPOTENCY_STATUSES = ['started', 'completed'] as const;

/**
 * Keys compare exactly, byte for byte: `AbC…` and `abc…` are two keys. The server's default collation
 * (utf8mb4_general_ci) would make them one, and a client's second intent would get the first one's answer.
 */
const exactKey = customType<{ data: string }>({
  dataType: () => 'varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin',
});

/** One row per (scope, principal, key): the record of a mutation a client may retry. */
export const idempotencyRequests = mysqlTable(
  'idempotency_requests',
  {
    id: id(),
    /** The operation, e.g. `bookings.create`. */
    scope: varchar('scope', { length: 64 }).notNull(),
    /** Never null (NULLs never collide in a unique index): `user:42`, `stripe`, `system`. */
    principal: varchar('principal', { length: 128 }).notNull(),
    idempotencyKey: exactKey('idempotency_key').notNull(),
    /** SHA-256 hex of the canonical JSON of the input. */
    fingerprint: char('fingerprint', { length: 64 }).notNull(),
    status: mysqlEnum('status', IDEMPOTENCY_STATUSES).notNull().default('started'),
    /** The stored result, returned to every retry; null while started. */
    response: json('response'),
    /** While started: after this moment the holder is presumed dead and the key may be taken over. */
    lockedUntil: timestamp('locked_until').notNull(),
    expiresAt: timestamp('expires_at').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('uq_idempotency_scope_principal_key').on(t.scope, t.principal, t.idempotencyKey),
    index('idx_idempotency_expires').on(t.expiresAt),
  ],
);
