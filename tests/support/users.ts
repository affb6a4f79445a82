import { randomBytes } from 'node:crypto';
import request from 'supertest';
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

export const TEST_PASSWORD = 'correct horse battery';

let emailSeq = 0;
/** An address no test in this run has used: `<label><n>-<random>@example.com`. */
export const uniqueEmail = (label = 'traveller') => `${label}${++emailSeq}-${randomBytes(3).toString('hex')}@example.com`;

/** Signs up through the mobile REST API (the real path: argon2, tokens, refresh family) and expects 201. */
export async function registerOverRest(baseUrl: string, opts: { email?: string; password?: string; name?: string } = {}) {
  const email = opts.email ?? uniqueEmail();
  const password = opts.password ?? TEST_PASSWORD;
  const res = await request(baseUrl)
    .post('/api/mobile/v1/auth/register')
    .send({ email, password, name: opts.name ?? 'Noura Traveller' });
  if (res.status !== 201) throw new Error(`register answered ${res.status}: ${res.text}`);
  return { email, password, ...(res.body as { user: { id: number; role: string }; accessToken: string; refreshToken: string; expiresIn: number }) };
}
