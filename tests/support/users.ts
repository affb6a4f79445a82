import { randomBytes } from 'node:crypto';
import type { Db } from '../../server/db/types.js';
import { users, type UserRole } from '../../server/db/schema/index.js';
import { env } from '../../server/env.js';
import { signAccessToken } from '../../server/services/access-tokens.js';

/**
 * A user row plus a real access token for it, for tests of features behind sign-in. (The sign-in flow
 * itself is tested over REST in the auth tests; here it would only slow every other test down.)
 */
export async function createUser(db: Db, opts: { role?: UserRole; tokenRole?: UserRole } = {}) {
  const email = `u-${randomBytes(6).toString('hex')}@example.test`;
  const [res] = await db.insert(users).values({
    email,
    name: 'Test Traveller',
    // Not a usable hash: these users never sign in with a password.
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$unusable$unusable',
    role: opts.role ?? 'traveller',
  });
  const id = res.insertId;
  const { accessToken } = signAccessToken(env, { id, role: opts.tokenRole ?? opts.role ?? 'traveller' });
  return { id, email, accessToken };
}
