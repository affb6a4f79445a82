import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import request from 'supertest';
import jwt from 'jsonwebtoken';
import { TRPCClientError } from '@trpc/client';
import { eq } from 'drizzle-orm';
import { registerOverRest, TEST_PASSWORD, uniqueEmail } from '../support/users.js';
import { testEnv } from '../support/test-env.js';
import { runEntrypoint } from '../support/spawn.js';
import { env } from '../../server/env.js';
import { refreshTokens, users } from '../../server/db/schema/index.js';
import { requireAdmin } from '../../server/services/auth.js';
import { AppError } from '../../server/lib/errors.js';
import { useTestApp } from '../support/lifecycle.js';

const t = useTestApp();

const AUTH = '/api/mobile/v1/auth';
const api = () => request(t.baseUrl);
const newEmail = () => uniqueEmail();
const PASSWORD = TEST_PASSWORD;
const register = () => registerOverRest(t.baseUrl);

/** The one REST error envelope, with the request id echoed and nothing else (no stack, no details). */
function expectEnvelope(res: request.Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/json/);
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message', 'requestId']);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.requestId).toBe(res.headers['x-request-id']);
  expect(res.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
}

describe('POST /auth/register', () => {
  it('creates a traveller and answers 201 with the user, an access token and a refresh token', async () => {
    const email = newEmail();
    const res = await api().post(`${AUTH}/register`).send({ email: `  ${email.toUpperCase()} `, password: PASSWORD, name: '  Noura  ' });
    expect(res.status).toBe(201);
    expect(res.headers['cache-control']).toBe('private, no-store');
    expect(Object.keys(res.body).sort()).toEqual(['accessToken', 'expiresIn', 'refreshToken', 'user']);
    expect(res.body.user).toEqual({ id: expect.any(Number), email, name: 'Noura', role: 'traveller', createdAt: expect.any(String) });
    expect(new Date(res.body.user.createdAt).toISOString()).toBe(res.body.user.createdAt);
    expect(res.body.expiresIn).toBe(900);
    expect(res.body.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes, base64url
    const claims = jwt.decode(res.body.accessToken) as jwt.JwtPayload;
    expect(claims).toMatchObject({ sub: String(res.body.user.id), role: 'traveller', jti: expect.any(String) });
    expect(claims.exp! - claims.iat!).toBe(900);
  });

  it('stores the password as an argon2id hash with 19 MiB, 2 iterations, parallelism 1, never the password', async () => {
    const { user } = await register();
    const [row] = await t.db.select().from(users).where(eq(users.id, user.id));
    const [, algorithm, version, params] = row!.passwordHash.split('$');
    expect([algorithm, version]).toEqual(['argon2id', 'v=19']);
    expect(Object.fromEntries(params!.split(',').map((kv) => kv.split('=')))).toEqual({ m: '19456', t: '2', p: '1' });
    expect(row!.passwordHash).not.toContain(PASSWORD);
  });

  it('refuses an email that is taken, whatever its case and surrounding spaces, with 409 EMAIL_TAKEN', async () => {
    const { email } = await register();
    const res = await api().post(`${AUTH}/register`).send({ email: ` ${email.toUpperCase()}`, password: 'another password', name: 'Someone' });
    expectEnvelope(res, 409, 'EMAIL_TAKEN');
  });

  it('two racing registrations of one email: exactly one wins, the other is 409', async () => {
    const email = newEmail();
    const results = await Promise.all([0, 1].map(() => api().post(`${AUTH}/register`).send({ email, password: PASSWORD, name: 'Racer' })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
  });

  it.each([
    [{ email: 'not-an-email', password: PASSWORD, name: 'A' }, /email: must be a valid email address/],
    [{ email: 'a@example.com', password: 'short', name: 'A' }, /password: must be at least 10 characters/],
    [{ email: 'a@example.com', password: 'x'.repeat(129), name: 'A' }, /password: must be at most 128 characters/],
    [{ email: 'a@example.com', password: PASSWORD, name: '   ' }, /name: must not be empty/],
    [{ email: 'a@example.com', password: PASSWORD, name: 'n'.repeat(101) }, /name: must be at most 100 characters/],
    [{ email: 'a@example.com', name: 'A' }, /password/],
    [[1, 2, 3], /Request body must be a JSON object/],
  ])('refuses invalid input with 400 VALIDATION naming the field: %j', async (body, message) => {
    const res = await api().post(`${AUTH}/register`).send(body as object);
    expectEnvelope(res, 400, 'VALIDATION');
    expect(res.body.error.message).toMatch(message);
  });

  it('never echoes the password in a validation message', async () => {
    const res = await api().post(`${AUTH}/register`).send({ email: 'bad', password: 'secretpw', name: 'A' });
    expectEnvelope(res, 400, 'VALIDATION');
    expect(res.text).not.toContain('secretpw');
  });
});

describe('malformed requests get a 4xx in the envelope, never a stack', () => {
  it('malformed JSON is 400 MALFORMED_JSON', async () => {
    const res = await api().post(`${AUTH}/login`).set('Content-Type', 'application/json').send('{"email": "a@example.com", ');
    expectEnvelope(res, 400, 'MALFORMED_JSON');
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded'])('a %s body is 415 UNSUPPORTED_MEDIA_TYPE', async (type) => {
    const res = await api().post(`${AUTH}/login`).set('Content-Type', type).send('email=a@example.com&password=x');
    expectEnvelope(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('a body over 100kb is 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await api().post(`${AUTH}/register`).send({ email: newEmail(), password: PASSWORD, name: 'x'.repeat(110 * 1024) });
    expectEnvelope(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('a POST without a body is 400 VALIDATION', async () => {
    const res = await api().post(`${AUTH}/login`);
    expectEnvelope(res, 400, 'VALIDATION');
  });
});

describe('POST /auth/login', () => {
  it('answers 200 with the user and a fresh token pair, for any case of the email', async () => {
    const { email, user } = await register();
    const res = await api().post(`${AUTH}/login`).send({ email: email.toUpperCase(), password: PASSWORD });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('private, no-store');
    expect(res.body.user).toEqual(user);
    expect(res.body).toMatchObject({ accessToken: expect.any(String), refreshToken: expect.any(String), expiresIn: 900 });
    const me = await api().get(`${AUTH}/me`).set('Authorization', `Bearer ${res.body.accessToken}`);
    expect(me.body.user.id).toBe(user.id);
  });

  it('each login starts its own refresh-token family', async () => {
    const { email, user } = await register();
    await api().post(`${AUTH}/login`).send({ email, password: PASSWORD }).expect(200);
    const rows = await t.db.select().from(refreshTokens).where(eq(refreshTokens.userId, user.id));
    expect(rows).toHaveLength(2);
    expect(new Set(rows.map((r) => r.familyId)).size).toBe(2);
    expect(rows.every((r) => r.generation === 0 && r.parentId === null)).toBe(true);
  });

  it('a wrong password and an unknown email give the same 401 INVALID_CREDENTIALS, body for body', async () => {
    const { email } = await register();
    const wrongPassword = await api().post(`${AUTH}/login`).send({ email, password: 'not the password' });
    const unknownEmail = await api().post(`${AUTH}/login`).send({ email: newEmail(), password: 'not the password' });
    expectEnvelope(wrongPassword, 401, 'INVALID_CREDENTIALS');
    expectEnvelope(unknownEmail, 401, 'INVALID_CREDENTIALS');
    const strip = (r: request.Response) => ({ status: r.status, error: { ...r.body.error, requestId: undefined } });
    expect(strip(unknownEmail)).toEqual(strip(wrongPassword));
    expect(unknownEmail.headers['content-length']).toBe(wrongPassword.headers['content-length']);
  });
});

describe('GET /auth/me and tRPC auth.me', () => {
  it('returns the user, never the password hash', async () => {
    const { accessToken, user } = await register();
    const res = await api().get(`${AUTH}/me`).set('Authorization', `Bearer ${accessToken}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ user });
    expect(res.text).not.toMatch(/argon2|passwordHash|password_hash/);
    const viaTrpc = await t.trpc(accessToken).auth.me.query();
    expect(viaTrpc).toEqual({ user });
  });

  it('without a token: REST 401 UNAUTHORIZED, tRPC UNAUTHORIZED', async () => {
    expectEnvelope(await api().get(`${AUTH}/me`), 401, 'UNAUTHORIZED');
    expectEnvelope(await api().get(`${AUTH}/me`).set('Authorization', 'Basic dXNlcjpwYXNz'), 401, 'UNAUTHORIZED');
    const err = (await t.trpc().auth.me.query().catch((e: unknown) => e)) as TRPCClientError<any>;
    expect(err).toBeInstanceOf(TRPCClientError);
    expect(err.data).toMatchObject({ code: 'UNAUTHORIZED', httpStatus: 401, appCode: 'UNAUTHORIZED' });
  });
});

describe('refresh tokens at rest', () => {
  it('the stored token_hash is HMAC-SHA256(token, pepper): never the token, its bytes or its encodings', async () => {
    const { user, refreshToken } = await register();
    const [row] = await t.db.select().from(refreshTokens).where(eq(refreshTokens.userId, user.id));
    const stored = row!.tokenHash;
    expect(stored).toHaveLength(32);
    expect(stored.equals(Buffer.from(refreshToken, 'base64url'))).toBe(false);
    expect(stored.equals(Buffer.from(refreshToken, 'utf8').subarray(0, 32))).toBe(false);
    expect(stored.toString('base64url')).not.toBe(refreshToken);
    expect(stored.toString('hex')).not.toContain(Buffer.from(refreshToken, 'base64url').toString('hex'));
    expect(stored.equals(createHmac('sha256', env.REFRESH_TOKEN_PEPPER).update(refreshToken).digest())).toBe(true);
    // Nothing in the row, in any column, spells the token.
    const spelled = Object.values(row!).flatMap((v) =>
      Buffer.isBuffer(v) ? ['base64url', 'base64', 'hex', 'latin1'].map((enc) => v.toString(enc as BufferEncoding)) : [String(v)],
    );
    for (const value of spelled) expect(value).not.toContain(refreshToken);
  });

  it('a token whose hash was computed without the pepper is refused (a dump alone yields nothing usable)', async () => {
    const { user } = await register();
    const [row] = await t.db.select().from(refreshTokens).where(eq(refreshTokens.userId, user.id));
    // The best an attacker with the dump can try: hand the stored bytes back in some encoding.
    for (const guess of [row!.tokenHash.toString('base64url'), row!.tokenHash.toString('hex'), row!.tokenHash.toString('base64')]) {
      const res = await api().post(`${AUTH}/refresh`).send({ refreshToken: guess });
      expectEnvelope(res, 401, 'INVALID_TOKEN');
    }
  });
});

describe('roles', () => {
  const makeAdmin = async (...args: string[]) =>
    (await runEntrypoint('server/scripts/make-admin.ts', { ...testEnv(), DATABASE_URL: t.databaseUrl }, { args })).code;

  it('users:make-admin makes a user an admin; auth.me shows it at once, the next access token carries it', async () => {
    const { email, accessToken, user } = await register();
    expect(await makeAdmin(`  ${email.toUpperCase()}  `)).toBe(0);
    expect((await t.trpc(accessToken).auth.me.query()).user.role).toBe('admin');
    const login = await api().post(`${AUTH}/login`).send({ email, password: PASSWORD }).expect(200);
    expect(login.body.user.role).toBe('admin');
    expect((jwt.decode(login.body.accessToken) as jwt.JwtPayload).role).toBe('admin');
    await expect(requireAdmin(t.db, user.id)).resolves.toBeUndefined();
  });

  it('users:make-admin fails for an unknown email (exit 1) and without one (exit 64)', async () => {
    expect(await makeAdmin('nobody-here@example.com')).toBe(1);
    expect(await makeAdmin()).toBe(64);
  });

  it('requireAdmin re-checks the database: a demoted admin whose token still says admin is FORBIDDEN', async () => {
    const { user } = await register();
    await t.db.update(users).set({ role: 'admin' }).where(eq(users.id, user.id));
    await expect(requireAdmin(t.db, user.id)).resolves.toBeUndefined();
    await t.db.update(users).set({ role: 'traveller' }).where(eq(users.id, user.id));
    await expect(requireAdmin(t.db, user.id)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(requireAdmin(t.db, 99_999_999)).rejects.toBeInstanceOf(AppError);
    await expect(requireAdmin(t.db, 99_999_999)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('a refresh after a role change issues an access token with the new role', async () => {
    const { user, refreshToken } = await register();
    await t.db.update(users).set({ role: 'admin' }).where(eq(users.id, user.id));
    const res = await api().post(`${AUTH}/refresh`).send({ refreshToken }).expect(200);
    expect((jwt.decode(res.body.accessToken) as jwt.JwtPayload).role).toBe('admin');
  });
});
