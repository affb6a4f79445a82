import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { and, asc, count, eq, gt, isNull } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import type { DbOrTx, Tx } from '../db/types.js';
import { refreshTokens, users, type UserRole } from '../db/schema/index.js';
import { AppError, mysqlErrorCode } from '../lib/errors.js';
import { logger } from '../lib/logger.js';
import { currentContext } from '../lib/request-context.js';
import { bearerToken, signAccessToken, verifyAccessToken, type AccessClaims } from './access-tokens.js';
import { hashPassword, passwordNeedsRehash, verifyAgainstDummy, verifyPassword } from './passwords.js';

/** A login's refresh tokens all die this long after the login, however often they are rotated. */
export const REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS = 30 * 24 * 60 * 60;
/** A refresh token not exchanged within this long dies (a phone left in a drawer signs in again). */
export const REFRESH_TOKEN_IDLE_TTL_SECONDS = 7 * 24 * 60 * 60;

export interface UserView {
  id: number;
  email: string;
  name: string;
  role: UserRole;
  createdAt: string;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
}

export interface AuthSession extends TokenPair {
  user: UserView;
}

export interface RegisterInput {
  email: string;
  password: string;
  name: string;
}

export interface LoginInput {
  email: string;
  password: string;
}

const INVALID_CREDENTIALS = 'Email or password is incorrect';
// One message for unknown, expired and revoked tokens: the caller learns only that it must sign in.
const INVALID_REFRESH_TOKEN = 'Refresh token is invalid or expired';

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** What sign-in needs: the database, the JWT secret, the refresh-token pepper and grace, the clock. */
export type AuthDeps = Pick<Deps, 'db' | 'config' | 'clock'>;

/** What refresh_tokens.token_hash holds: HMAC-SHA256 keyed by a pepper the database never sees. */
export function hashRefreshToken(pepper: string, token: string): Buffer {
  return createHmac('sha256', pepper).update(token, 'utf8').digest();
}

const userColumns = { id: users.id, email: users.email, name: users.name, role: users.role, createdAt: users.createdAt };

function toUserView(row: { id: number; email: string; name: string; role: UserRole; createdAt: Date }): UserView {
  return { id: row.id, email: row.email, name: row.name, role: row.role, createdAt: row.createdAt.toISOString() };
}

/** The user behind a verified access token; a deleted user is "who are you?", not "not found". */
export async function getUser(db: DbOrTx, userId: number): Promise<UserView> {
  const [row] = await db.select(userColumns).from(users).where(eq(users.id, userId)).limit(1);
  if (!row) throw new AppError('UNAUTHORIZED', 'Sign in required');
  return toUserView(row);
}

/** The role as the database has it now (the access token's copy may be up to 15 minutes old). */
export async function loadUserRole(db: DbOrTx, userId: number): Promise<UserRole | null> {
  const [row] = await db.select({ role: users.role }).from(users).where(eq(users.id, userId)).limit(1);
  return row?.role ?? null;
}

/** For admin-only actions: re-checks the role in the database instead of trusting the token. */
export async function requireAdmin(db: DbOrTx, userId: number): Promise<void> {
  const role = await loadUserRole(db, userId);
  if (role === null) throw new AppError('UNAUTHORIZED', 'Sign in required');
  if (role !== 'admin') throw new AppError('FORBIDDEN', 'Only administrators may do this');
}

/** `Authorization: Bearer <access token>` -> its verified claims; absent or invalid is UNAUTHORIZED. */
export function authenticate(config: Pick<Deps['config'], 'JWT_SECRET'>, authorization: string | undefined): AccessClaims {
  const token = bearerToken(authorization);
  if (!token) throw new AppError('UNAUTHORIZED', 'Sign in required');
  const claims = verifyAccessToken(config, token);
  const store = currentContext();
  if (store) store.userId = claims.userId;
  return claims;
}

export async function register(deps: AuthDeps, input: RegisterInput): Promise<AuthSession> {
  const { db } = deps;
  const email = normalizeEmail(input.email);
  // Hash before the transaction: argon2 takes tens of milliseconds and needs no row locked.
  const passwordHash = await hashPassword(input.password);
  try {
    const { user, refreshToken } = await db.transaction(async (tx) => {
      const [res] = await tx.insert(users).values({ email, passwordHash, name: input.name.trim() });
      const user = await getUser(tx, res.insertId);
      return { user, refreshToken: await startFamily({ ...deps, db: tx }, user.id) };
    });
    logger.info({ userId: user.id }, 'user registered');
    return { user, refreshToken, ...signAccessToken(deps.config, user) };
  } catch (err) {
    // The unique index decides, so two racing registrations of one email cannot both succeed.
    if (mysqlErrorCode(err) === 'ER_DUP_ENTRY') throw new AppError('EMAIL_TAKEN', 'An account with this email already exists');
    throw err;
  }
}

export async function login(deps: AuthDeps, input: LoginInput): Promise<AuthSession> {
  const { db } = deps;
  const email = normalizeEmail(input.email);
  const [row] = await db
    .select({ ...userColumns, passwordHash: users.passwordHash })
    .from(users)
    .where(eq(users.email, email))
    .limit(1);
  // An unknown email costs the same argon2 work as a wrong password, so timing tells nothing.
  const ok = row ? await verifyPassword(row.passwordHash, input.password) : await verifyAgainstDummy(input.password);
  if (!row || !ok) {
    logger.info({ userId: row?.id }, 'login refused');
    throw new AppError('INVALID_CREDENTIALS', INVALID_CREDENTIALS);
  }
  if (passwordNeedsRehash(row.passwordHash)) {
    // Hashing parameters were raised since this password was set: upgrade while we hold the plaintext.
    await db.update(users).set({ passwordHash: await hashPassword(input.password) }).where(eq(users.id, row.id));
  }
  const user = toUserView(row);
  const refreshToken = await startFamily(deps, user.id);
  logger.info({ userId: user.id }, 'user signed in');
  return { user, refreshToken, ...signAccessToken(deps.config, user) };
}

type Rotation =
  | { kind: 'issued'; refreshToken: string; userId: number; role: UserRole }
  | { kind: 'invalid' }
  | { kind: 'reused'; userId: number; familyId: string };

/**
 * Exchanges a refresh token for a new access token and a successor refresh token in the same family.
 *
 * Presenting a token that was already exchanged is either a phone retrying on a flaky network (within
 * REFRESH_REUSE_GRACE_SECONDS of the first exchange: it gets a sibling token, still in the family) or a
 * stolen token being replayed (later: the whole family is revoked, so the thief's and the owner's
 * tokens all die and the owner signs in again).
 */
export async function refreshSession(deps: AuthDeps, input: { refreshToken: string }): Promise<TokenPair> {
  const { config } = deps;
  const tokenHash = hashRefreshToken(config.REFRESH_TOKEN_PEPPER, input.refreshToken);
  // The transaction returns its verdict instead of throwing: a family revocation must commit.
  const outcome = await deps.db.transaction(async (tx): Promise<Rotation> => {
    const [found] = await tx
      .select({ familyId: refreshTokens.familyId, role: users.role })
      .from(refreshTokens)
      .innerJoin(users, eq(users.id, refreshTokens.userId))
      .where(eq(refreshTokens.tokenHash, tokenHash))
      .limit(1);
    if (!found) return { kind: 'invalid' };
    await lockFamily(tx, found.familyId);
    const [row] = await tx.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)).for('update');
    // Taken after the locks: a request that waited behind a concurrent one measures the grace from now.
    const now = deps.clock.now();
    if (!row || row.revokedAt || row.absoluteExpiresAt <= now || row.idleExpiresAt <= now) return { kind: 'invalid' };

    if (row.rotatedAt) {
      if (now.getTime() - row.rotatedAt.getTime() > config.REFRESH_REUSE_GRACE_SECONDS * 1000) {
        await revokeFamily(tx, row.familyId, 'reuse', now);
        return { kind: 'reused', userId: row.userId, familyId: row.familyId };
      }
      // A retry within the grace window gets ONE sibling of the successor (the successor itself cannot
      // be handed out again, only its hash is stored); both stay valid and the unused one idles out. A
      // third presentation is not a flaky network any more: it is treated as reuse.
      const [issued] = await tx
        .select({ n: count() })
        .from(refreshTokens)
        .where(and(eq(refreshTokens.familyId, row.familyId), eq(refreshTokens.parentId, row.id)));
      if ((issued?.n ?? 0) >= 2) {
        await revokeFamily(tx, row.familyId, 'reuse', now);
        return { kind: 'reused', userId: row.userId, familyId: row.familyId };
      }
      const refreshToken = await insertToken(tx, config, { ...familyOf(row), parentId: row.id, generation: row.generation + 1, now });
      return { kind: 'issued', refreshToken, userId: row.userId, role: found.role };
    }

    await tx.update(refreshTokens).set({ rotatedAt: now }).where(eq(refreshTokens.id, row.id));
    const refreshToken = await insertToken(tx, config, { ...familyOf(row), parentId: row.id, generation: row.generation + 1, now });
    return { kind: 'issued', refreshToken, userId: row.userId, role: found.role };
  });

  if (outcome.kind === 'invalid') throw new AppError('INVALID_TOKEN', INVALID_REFRESH_TOKEN);
  if (outcome.kind === 'reused') {
    logger.warn({ userId: outcome.userId, familyId: outcome.familyId }, 'refresh token reused after rotation; family revoked');
    throw new AppError('REFRESH_TOKEN_REUSED', 'Refresh token was already used; sign in again');
  }
  return { refreshToken: outcome.refreshToken, ...signAccessToken(config, { id: outcome.userId, role: outcome.role }) };
}

/** The account a refresh token belongs to (for its per-account rate limit); null when unknown. */
export async function refreshTokenOwner(deps: AuthDeps, input: { refreshToken: string }): Promise<number | null> {
  // Only a live token counts against its account: old, revoked tokens must not let anyone holding
  // them use up the owner's refreshes.
  const tokenHash = hashRefreshToken(deps.config.REFRESH_TOKEN_PEPPER, input.refreshToken);
  const [row] = await deps.db
    .select({ userId: refreshTokens.userId })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.revokedAt), gt(refreshTokens.absoluteExpiresAt, deps.clock.now())))
    .limit(1);
  return row?.userId ?? null;
}

/** Revokes the presented token's whole family. An unknown token is not an error: there is nothing to end. */
export async function logout(deps: AuthDeps, input: { refreshToken: string }): Promise<void> {
  const tokenHash = hashRefreshToken(deps.config.REFRESH_TOKEN_PEPPER, input.refreshToken);
  await deps.db.transaction(async (tx) => {
    const [found] = await tx
      .select({ familyId: refreshTokens.familyId, userId: refreshTokens.userId })
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, tokenHash))
      .limit(1);
    if (!found) return;
    await lockFamily(tx, found.familyId);
    const revoked = await revokeFamily(tx, found.familyId, 'logout', deps.clock.now());
    logger.info({ userId: found.userId, familyId: found.familyId, revoked }, 'signed out');
  });
}

function familyOf(row: typeof refreshTokens.$inferSelect) {
  return { userId: row.userId, familyId: row.familyId, absoluteExpiresAt: row.absoluteExpiresAt };
}

/** The first refresh token of a login: a new family whose absolute lifetime starts now. */
async function startFamily(deps: { db: DbOrTx } & Pick<AuthDeps, 'config' | 'clock'>, userId: number): Promise<string> {
  const now = deps.clock.now();
  return insertToken(deps.db, deps.config, {
    userId,
    familyId: randomUUID(),
    absoluteExpiresAt: new Date(now.getTime() + REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS * 1000),
    parentId: null,
    generation: 0,
    now,
  });
}

async function insertToken(
  db: DbOrTx,
  config: Pick<Deps['config'], 'REFRESH_TOKEN_PEPPER'>,
  t: { userId: number; familyId: string; absoluteExpiresAt: Date; parentId: number | null; generation: number; now: Date },
): Promise<string> {
  // 256 bits from the CSPRNG; the client gets it once, the database only ever sees its HMAC.
  const token = randomBytes(32).toString('base64url');
  await db.insert(refreshTokens).values({
    userId: t.userId,
    familyId: t.familyId,
    tokenHash: hashRefreshToken(config.REFRESH_TOKEN_PEPPER, token),
    parentId: t.parentId,
    generation: t.generation,
    idleExpiresAt: new Date(Math.min(t.now.getTime() + REFRESH_TOKEN_IDLE_TTL_SECONDS * 1000, t.absoluteExpiresAt.getTime())),
    absoluteExpiresAt: t.absoluteExpiresAt,
  });
  return token;
}

/**
 * Serialises everything that changes one family (rotation, sibling issue, revocation) on its first row.
 * Without it a revocation could miss a successor inserted by a rotation racing it. Always taken before
 * any other row of the family, so two transactions never wait on each other in opposite orders.
 */
async function lockFamily(tx: Tx, familyId: string): Promise<void> {
  await tx
    .select({ id: refreshTokens.id })
    .from(refreshTokens)
    .where(eq(refreshTokens.familyId, familyId))
    .orderBy(asc(refreshTokens.id))
    .limit(1)
    .for('update');
}

async function revokeFamily(tx: Tx, familyId: string, reason: 'reuse' | 'logout', now: Date): Promise<number> {
  const [res] = await tx
    .update(refreshTokens)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)));
  return res.affectedRows;
}
