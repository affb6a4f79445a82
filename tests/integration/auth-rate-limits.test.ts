import { randomBytes } from 'node:crypto';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { useTestApp } from '../support/lifecycle.js';
import { deleteRedisKeys } from '../support/redis.js';
import { registerOverRest, TEST_PASSWORD, uniqueEmail } from '../support/users.js';
import { RateLimit } from '../../server/services/rate-limit.js';

// Small limits for this file's app only: the rules reach the routers through deps.config.
const rule = (points: number, durationSeconds: number) => ({ points, durationSeconds });
const SMALL_LIMITS = {
  RATE_LIMIT_LOGIN_PER_ACCOUNT: rule(3, 900),
  RATE_LIMIT_LOGIN_PER_IP: rule(7, 900),
  RATE_LIMIT_REFRESH_PER_TOKEN: rule(3, 900),
  RATE_LIMIT_REFRESH_PER_IP: rule(5, 900),
  RATE_LIMIT_REFRESH_PER_ACCOUNT: rule(8, 900),
  RATE_LIMIT_REGISTER_PER_IP: rule(4, 3600),
};

const t = useTestApp({ config: SMALL_LIMITS });
const AUTH = '/api/mobile/v1/auth';
const api = () => request(t.baseUrl);
const PASSWORD = TEST_PASSWORD;
const alice = { email: 'alice@example.com', password: PASSWORD };
const bob = { email: 'bob@example.com', password: PASSWORD };

beforeAll(async () => {
  for (const u of [alice, bob]) await registerOverRest(t.baseUrl, { ...u, name: 'Limited' });
});

// Every test starts with fresh counters (all requests come from 127.0.0.1).
beforeEach(async () => {
  await deleteRedisKeys(t.redis, 'rl:*');
});

const login = (email: string, password: string) => api().post(`${AUTH}/login`).send({ email, password });
const refresh = (refreshToken: string) => api().post(`${AUTH}/refresh`).send({ refreshToken });
const junkToken = () => randomBytes(32).toString('base64url');

function expectLimited(res: request.Response, windowSeconds: number) {
  expect(res.status).toBe(429);
  expect(res.body.error).toEqual({ code: 'RATE_LIMITED', message: expect.stringMatching(/try again in \d+ seconds/), requestId: expect.any(String) });
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
}

describe('login, per account', () => {
  it('after 3 failures the account answers 429 with Retry-After, even to the right password; other accounts still sign in', async () => {
    for (let i = 0; i < 3; i++) expect((await login(alice.email, 'wrong password')).status).toBe(401);
    expectLimited(await login(alice.email, 'wrong password'), 900);
    expectLimited(await login(alice.email.toUpperCase(), alice.password), 900); // one counter per normalised email
    expect((await login(bob.email, bob.password)).status).toBe(200);
  });

  it('a successful login resets the account counter', async () => {
    for (let i = 0; i < 2; i++) expect((await login(alice.email, 'wrong password')).status).toBe(401);
    expect((await login(alice.email, alice.password)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await login(alice.email, 'wrong password')).status).toBe(401);
    expectLimited(await login(alice.email, 'wrong password'), 900);
  });

  it('an unknown email is limited the same way (the limit does not reveal which emails have accounts)', async () => {
    const ghost = uniqueEmail('ghost');
    for (let i = 0; i < 3; i++) expect((await login(ghost, 'wrong password')).status).toBe(401);
    expectLimited(await login(ghost, 'wrong password'), 900);
  });

  it('neither emails nor tokens are written to Redis as they are', async () => {
    await login(alice.email, 'wrong password');
    const token = junkToken();
    await refresh(token);
    const keys = (await t.redis.keys(`${t.redisPrefix}rl:*`)).join('\n');
    expect(keys).toMatch(/rl:login:account/);
    expect(keys).not.toContain('alice');
    expect(keys).not.toContain(token);
  });
});

describe('login, per IP', () => {
  it('failures across many accounts from one IP hit 429; successful logins do not count', async () => {
    for (let i = 0; i < 5; i++) expect((await login(bob.email, bob.password)).status).toBe(200);
    for (let i = 0; i < 7; i++) expect((await login(`nobody${i}@example.com`, 'wrong password')).status).toBe(401);
    expectLimited(await login('one-more@example.com', 'wrong password'), 900);
    expectLimited(await login(bob.email, bob.password), 900);
  });
});

describe('refresh', () => {
  it('per token: the 4th attempt with one token within the window is 429', async () => {
    const token = junkToken();
    for (let i = 0; i < 3; i++) expect((await refresh(token)).status).toBe(401);
    expectLimited(await refresh(token), 900);
  });

  it('per IP: failed refreshes with many tokens hit 429; successful refreshes do not count', async () => {
    let token = (await login(bob.email, bob.password).expect(200)).body.refreshToken as string;
    for (let i = 0; i < 6; i++) token = (await refresh(token).expect(200)).body.refreshToken;
    for (let i = 0; i < 5; i++) expect((await refresh(junkToken())).status).toBe(401);
    expectLimited(await refresh(junkToken()), 900);
    expectLimited(await refresh(token), 900);
  });
});

describe('refresh, per account', () => {
  it('the 9th refresh of one account within the window is 429, whichever of its tokens; other accounts refresh on', async () => {
    let token = (await login(alice.email, alice.password).expect(200)).body.refreshToken as string;
    const second = (await login(alice.email, alice.password).expect(200)).body.refreshToken as string; // another device
    for (let i = 0; i < 7; i++) token = (await refresh(token).expect(200)).body.refreshToken;
    expect((await refresh(second)).status).toBe(200); // the 8th, from the other device
    expectLimited(await refresh(token), 900);
    const bobToken = (await login(bob.email, bob.password).expect(200)).body.refreshToken as string;
    expect((await refresh(bobToken)).status).toBe(200);
  });
});

describe('register, per IP', () => {
  it('the 5th registration attempt from one IP within the hour is 429', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await api().post(`${AUTH}/register`).send({ email: uniqueEmail('new'), password: PASSWORD, name: 'N' });
      expect(res.status).toBe(201);
    }
    const res = await api().post(`${AUTH}/register`).send({ email: 'one-too-many@example.com', password: PASSWORD, name: 'N' });
    expectLimited(res, 3600);
  });
});

describe('RateLimit', () => {
  it('counts in fixed windows: over the limit until the window ends, then open again', async () => {
    const limit = new RateLimit(t.redis, `probe-${randomBytes(3).toString('hex')}`, { points: 2, durationSeconds: 1 });
    expect(await limit.hit('k')).toBeNull();
    expect(await limit.hit('k')).toBeNull();
    expect(await limit.hit('k')).toBe(1);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await limit.hit('k')).toBeNull();
  });
});
