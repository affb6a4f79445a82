import { mysqlTable, varchar, uniqueIndex, index, customType, char, int } from 'drizzle-orm/mysql-core';
import { id, ref, timestamp, createdAt } from './columns.js';
import { users } from './users.js';

/** 32 raw bytes; BINARY compares byte for byte, unlike a case-insensitive collation. */
const sha256Binary = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'binary(32)',
});

export const refreshTokens = mysqlTable(
  'refresh_tokens',
  {
    id: id(),
    userId: ref('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    /** Every token issued from one login shares a family; reuse of a rotated token revokes the family. */
    familyId: char('family_id', { length: 36 }).notNull(),
    /** HMAC-SHA256(token, REFRESH_TOKEN_PEPPER). The token itself is never stored. */
    tokenHash: sha256Binary('token_hash').notNull(),
    /** The token this one was rotated from; null for the first token of a login. */
    parentId: ref('parent_id'),
    /** Set when this token was exchanged for a successor; presenting it again after the grace window is reuse. */
    rotatedAt: timestamp('rotated_at'),
    revokedAt: timestamp('revoked_at'),
    revokedReason: varchar('revoked_reason', { length: 32 }),
    /** Idle limit: unused for this long and the token dies even inside the family's lifetime. */
    idleExpiresAt: timestamp('idle_expires_at').notNull(),
    /** Absolute limit, inherited from the family's first token: rotation never extends it. */
    absoluteExpiresAt: timestamp('absolute_expires_at').notNull(),
    generation: int('generation').notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('uq_refresh_tokens_token_hash').on(t.tokenHash),
    index('idx_refresh_tokens_family').on(t.familyId),
    index('idx_refresh_tokens_user').on(t.userId),
    index('idx_refresh_tokens_absolute_expiry').on(t.absoluteExpiresAt),
  ],
);
