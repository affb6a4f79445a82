import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import request from 'supertest';
import jwt from 'jsonwebtoken';
import { eq } from 'drizzle-orm';
import { registerOverRest, TEST_PASSWORD, uniqueEmail } from '../support/users.js';
import { env } from '../../server/env.js';
import { refreshTokens } from '../../server/db/schema/index.js';
import { hashRefreshToken, REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS, REFRESH_TOKEN_IDLE_TTL_SECONDS } from '../../server/services/auth.js';
import { useTestApp } from '../support/lifecycle.js';

const t = useTestApp();

const AUTH = '/api/mobile/v1/auth';
const api = () => request(t.baseUrl);
const PASSWORD = TEST_PASSWORD;
const signUp = () => registerOverRest(t.baseUrl, { email: uniqueEmail('rotator'), name: 'Rotator' });

async function signIn(email: string) {
  const res = await api().post(`${AUTH}/login`).send({ email, password: PASSWORD }).expect(200);
  return res.body.refreshToken as string;
}

const refresh = (refreshToken: string) => api().post(`${AUTH}/refresh`).send({ refreshToken });

/** Refreshes and expects success; returns the new refresh token. */
async function rotate(refreshToken: string): Promise<string> {
  const res = await refresh(refreshToken);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.refreshToken as string;
}

async function rowOf(token: string) {
  const [row] = await t.db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hashRefreshToken(env.REFRESH_TOKEN_PEPPER, token)));
  if (!row) throw new Error('no row for that token');
  return row;
}

/** Pretends the token was exchanged `seconds` ago: faster than waiting out the grace window. */
async function rotatedSecondsAgo(token: string, seconds: number) {
  await t.db.update(refreshTokens).set({ rotatedAt: new Date(Date.now() - seconds * 1000) }).where(eq(refreshTokens.tokenHash, hashRefreshToken(env.REFRESH_TOKEN_PEPPER, token)));
}

function expectTokenError(res: request.Response, code: 'INVALID_TOKEN' | 'REFRESH_TOKEN_REUSED') {
  expect(res.status).toBe(401);
  expect(res.body.error).toEqual({ code, message: expect.any(String), requestId: res.headers['x-request-id'] });
}

describe('POST /auth/refresh: rotation', () => {
  it('answers 200 with a new access token and a new refresh token in the same family', async () => {
    const { user: { id: userId }, refreshToken } = await signUp();
    const res = await refresh(refreshToken);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('private, no-store');
    expect(Object.keys(res.body).sort()).toEqual(['accessToken', 'expiresIn', 'refreshToken']);
    expect(res.body.expiresIn).toBe(900);
    expect(res.body.refreshToken).not.toBe(refreshToken);
    expect((jwt.decode(res.body.accessToken) as jwt.JwtPayload).sub).toBe(String(userId));
    const me = await api().get(`${AUTH}/me`).set('Authorization', `Bearer ${res.body.accessToken}`).expect(200);
    expect(me.body.user.id).toBe(userId);

    const [old, next] = [await rowOf(refreshToken), await rowOf(res.body.refreshToken)];
    expect(old.rotatedAt).toBeInstanceOf(Date);
    expect(next).toMatchObject({ familyId: old.familyId, parentId: old.id, generation: 1, rotatedAt: null, revokedAt: null, userId });
  });

  it('inherits the absolute expiry (30 days from sign-in, never extended) and restarts the 7-day idle limit', async () => {
    const { refreshToken } = await signUp();
    const first = await rowOf(refreshToken);
    expect(first.absoluteExpiresAt.getTime() - first.createdAt.getTime()).toBeCloseTo(REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS * 1000, -4);
    expect(first.idleExpiresAt.getTime() - first.createdAt.getTime()).toBeCloseTo(REFRESH_TOKEN_IDLE_TTL_SECONDS * 1000, -4);
    const second = await rowOf(await rotate(await rotate(refreshToken)));
    expect(second.generation).toBe(2);
    expect(second.absoluteExpiresAt).toEqual(first.absoluteExpiresAt);
    expect(second.idleExpiresAt.getTime()).toBeGreaterThanOrEqual(first.idleExpiresAt.getTime());
  });

  it('the idle limit never reaches past the absolute expiry', async () => {
    const { refreshToken } = await signUp();
    const soon = new Date(Date.now() + 3 * 86_400_000);
    await t.db.update(refreshTokens).set({ absoluteExpiresAt: soon }).where(eq(refreshTokens.tokenHash, hashRefreshToken(env.REFRESH_TOKEN_PEPPER, refreshToken)));
    const next = await rowOf(await rotate(refreshToken));
    expect(next.absoluteExpiresAt).toEqual(soon);
    expect(next.idleExpiresAt).toEqual(soon);
  });
});

describe('POST /auth/refresh: retries within the grace window', () => {
  it(`presenting the previous token again within ${env.REFRESH_REUSE_GRACE_SECONDS} s gets a working sibling; nothing is revoked`, async () => {
    const { refreshToken } = await signUp();
    const successor = await rotate(refreshToken);
    const sibling = await rotate(refreshToken); // the phone never saw the first answer and retried
    expect(sibling).not.toBe(successor);
    const [a, b] = [await rowOf(successor), await rowOf(sibling)];
    expect(b).toMatchObject({ familyId: a.familyId, parentId: a.parentId, generation: a.generation });
    await rotate(successor);
    await rotate(sibling);
  });

  it('two truly concurrent refreshes of one token both succeed, and both tokens work', async () => {
    const { refreshToken } = await signUp();
    const results = await Promise.all([refresh(refreshToken), refresh(refreshToken)]);
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    const tokens = results.map((r) => r.body.refreshToken as string);
    const parent = await rowOf(refreshToken);
    for (const token of tokens) expect(await rowOf(token)).toMatchObject({ familyId: parent.familyId, parentId: parent.id, revokedAt: null });
    await Promise.all(results.map((r) => api().get(`${AUTH}/me`).set('Authorization', `Bearer ${r.body.accessToken}`).expect(200)));
    expect((await Promise.all(tokens.map((token) => refresh(token)))).map((r) => r.status)).toEqual([200, 200]);
  });

  it('the grace is bounded: a third presentation within the window is reuse and revokes the family', async () => {
    const { refreshToken } = await signUp();
    const successor = await rotate(refreshToken);
    const sibling = await rotate(refreshToken);
    expectTokenError(await refresh(refreshToken), 'REFRESH_TOKEN_REUSED');
    expectTokenError(await refresh(successor), 'INVALID_TOKEN');
    expectTokenError(await refresh(sibling), 'INVALID_TOKEN');
    const family = await t.db.select().from(refreshTokens).where(eq(refreshTokens.familyId, (await rowOf(refreshToken)).familyId));
    expect(family).toHaveLength(3);
    for (const row of family) expect(row).toMatchObject({ revokedReason: 'reuse' });
  });

  it('five truly concurrent refreshes of one token: two get tokens, the rest are reuse, and the family dies', async () => {
    const { refreshToken } = await signUp();
    const results = await Promise.all(Array.from({ length: 5 }, () => refresh(refreshToken)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(2);
    expect(results.filter((r) => r.status === 401)).toHaveLength(3);
    expect(results.filter((r) => r.body.error?.code === 'REFRESH_TOKEN_REUSED')).toHaveLength(1);
    const family = await t.db.select().from(refreshTokens).where(eq(refreshTokens.familyId, (await rowOf(refreshToken)).familyId));
    expect(family).toHaveLength(3);
    for (const r of results.filter((x) => x.status === 200)) expectTokenError(await refresh(r.body.refreshToken as string), 'INVALID_TOKEN');
  });
});

describe('POST /auth/refresh: reuse detection', () => {
  it('a token presented after the grace window is 401 REFRESH_TOKEN_REUSED and revokes its whole family', async () => {
    const { email, refreshToken: first } = await signUp();
    const second = await rotate(first);
    const third = await rotate(second); // the legitimate holder kept rotating
    const otherSession = await signIn(email); // another device of the same user: another family
    await rotatedSecondsAgo(first, env.REFRESH_REUSE_GRACE_SECONDS + 5);

    expectTokenError(await refresh(first), 'REFRESH_TOKEN_REUSED');

    // The newest token of that family, rotated legitimately, is dead too; the thief's copy as well.
    expectTokenError(await refresh(third), 'INVALID_TOKEN');
    expectTokenError(await refresh(second), 'INVALID_TOKEN');
    const family = await t.db.select().from(refreshTokens).where(eq(refreshTokens.familyId, (await rowOf(first)).familyId));
    expect(family).toHaveLength(3);
    for (const row of family) expect(row).toMatchObject({ revokedAt: expect.any(Date), revokedReason: 'reuse' });

    // Other sign-ins of the same user are not touched.
    await rotate(otherSession);
  });

  it('a replay of the successor-issuing token after the window, once the family is revoked, stays INVALID_TOKEN', async () => {
    const { refreshToken: first } = await signUp();
    await rotate(first);
    await rotatedSecondsAgo(first, 60);
    expectTokenError(await refresh(first), 'REFRESH_TOKEN_REUSED');
    expectTokenError(await refresh(first), 'INVALID_TOKEN');
  });

  it('a token inside the window is not forgiven once its family has been revoked', async () => {
    const { refreshToken: first } = await signUp();
    const second = await rotate(first);
    await rotate(second);
    await rotatedSecondsAgo(first, 60);
    expectTokenError(await refresh(first), 'REFRESH_TOKEN_REUSED');
    // `second` was rotated a moment ago (inside the grace window), but its family is revoked.
    expectTokenError(await refresh(second), 'INVALID_TOKEN');
  });
});

describe('unknown, expired and revoked refresh tokens', () => {
  it('all get the same 401 INVALID_TOKEN with the same message', async () => {
    const unknown = randomBytes(32).toString('base64url');
    const idle = (await signUp()).refreshToken;
    await t.db.update(refreshTokens).set({ idleExpiresAt: new Date(Date.now() - 1000) }).where(eq(refreshTokens.tokenHash, hashRefreshToken(env.REFRESH_TOKEN_PEPPER, idle)));
    const absolute = (await signUp()).refreshToken;
    await t.db.update(refreshTokens).set({ absoluteExpiresAt: new Date(Date.now() - 1000) }).where(eq(refreshTokens.tokenHash, hashRefreshToken(env.REFRESH_TOKEN_PEPPER, absolute)));
    const loggedOut = (await signUp()).refreshToken;
    await api().post(`${AUTH}/logout`).send({ refreshToken: loggedOut }).expect(204);

    const answers = await Promise.all([unknown, idle, absolute, loggedOut, 'short'].map((token) => refresh(token)));
    for (const res of answers) expectTokenError(res, 'INVALID_TOKEN');
    expect(new Set(answers.map((r) => r.body.error.message)).size).toBe(1);
  });

  it('a malformed body is 400 VALIDATION', async () => {
    for (const body of [{}, { refreshToken: 42 }, { refreshToken: '' }]) {
      const res = await api().post(`${AUTH}/refresh`).send(body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION');
    }
  });
});

describe('POST /auth/logout', () => {
  it('answers 204 and revokes the whole family, not other sign-ins', async () => {
    const { email, refreshToken: first } = await signUp();
    const second = await rotate(first);
    const otherSession = await signIn(email);
    const res = await api().post(`${AUTH}/logout`).send({ refreshToken: second });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expectTokenError(await refresh(second), 'INVALID_TOKEN');
    const family = await t.db.select().from(refreshTokens).where(eq(refreshTokens.familyId, (await rowOf(first)).familyId));
    for (const row of family) expect(row).toMatchObject({ revokedAt: expect.any(Date), revokedReason: 'logout' });
    await rotate(otherSession);
  });

  it('is 204 for an unknown or already revoked token (nothing leaks), 400 for a malformed body', async () => {
    await api().post(`${AUTH}/logout`).send({ refreshToken: randomBytes(32).toString('base64url') }).expect(204);
    const { refreshToken } = await signUp();
    await api().post(`${AUTH}/logout`).send({ refreshToken }).expect(204);
    await api().post(`${AUTH}/logout`).send({ refreshToken }).expect(204);
    for (const body of [{}, { refreshToken: null }, { token: refreshToken }]) {
      const res = await api().post(`${AUTH}/logout`).send(body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION');
    }
  });
});
