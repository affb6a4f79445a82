import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import jwt from 'jsonwebtoken';
import { TRPCClientError } from '@trpc/client';
import { useTestApp } from '../support/lifecycle.js';
import { registerOverRest } from '../support/users.js';
import { env } from '../../server/env.js';

const t = useTestApp();
let valid: string;
let claims: jwt.JwtPayload;

beforeAll(async () => {
  valid = (await registerOverRest(t.baseUrl, { email: 'jwt-holder@example.com', name: 'Holder' })).accessToken;
  claims = jwt.decode(valid) as jwt.JwtPayload;
});

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** Claims exactly like a real token's (issuer, audience, subject), so only the named defect differs. */
function sign(secretOrKey: jwt.Secret, opts: { algorithm?: jwt.Algorithm; payload?: object } = {}) {
  return jwt.sign({ role: 'admin', sub: claims.sub, iss: claims.iss, aud: claims.aud, jti: randomUUID(), iat: now(), exp: now() + 600, ...opts.payload }, secretOrKey, {
    algorithm: opts.algorithm ?? 'HS256',
  });
}

const forged: [string, () => string][] = [
  [
    'a tampered payload (role raised to admin, signature kept)',
    () => {
      const [header, payload, signature] = valid.split('.');
      const raised = b64({ ...(JSON.parse(Buffer.from(payload!, 'base64url').toString()) as object), role: 'admin' });
      return `${header}.${raised}.${signature}`;
    },
  ],
  [
    'a tampered signature',
    () => {
      const [header, payload, signature] = valid.split('.');
      const bytes = Buffer.from(signature!, 'base64url');
      bytes[0] = bytes[0]! ^ 0xff;
      return `${header}.${payload}.${bytes.toString('base64url')}`;
    },
  ],
  ['an expired token signed with the real secret', () => sign(env.JWT_SECRET, { payload: { iat: now() - 3600, exp: now() - 60 } })],
  ['an `alg: none` token', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, role: 'admin' })}.`],
  ['an HS256 token signed with a different secret', () => sign(randomBytes(48).toString('base64url'))],
  ['an RS256 token (algorithm confusion)', () => sign(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, { algorithm: 'RS256' })],
  ['an HS512 token signed with the real secret (algorithm pinned to HS256)', () => sign(env.JWT_SECRET, { algorithm: 'HS512' })],
  ['a token for another issuer', () => sign(env.JWT_SECRET, { payload: { iss: 'someone-else' } })],
  ['a token for another audience', () => sign(env.JWT_SECRET, { payload: { aud: 'another-app' } })],
  ['a token without a subject', () => sign(env.JWT_SECRET, { payload: { sub: undefined } })],
  ['a token without a jti', () => sign(env.JWT_SECRET, { payload: { jti: undefined } })],
];

describe('access tokens', () => {
  it('control: the real token is accepted by REST /me and tRPC auth.me', async () => {
    const res = await request(t.baseUrl).get('/api/mobile/v1/auth/me').set('Authorization', `Bearer ${valid}`);
    expect(res.status).toBe(200);
    expect((await t.trpc(valid).auth.me.query()).user.email).toBe('jwt-holder@example.com');
    // The control for the forgeries: the same helper with nothing wrong is accepted.
    expect((await t.trpc(sign(env.JWT_SECRET)).auth.me.query()).user.id).toBe(Number(claims.sub));
  });

  it.each(forged)('%s is refused: REST 401 UNAUTHORIZED, tRPC UNAUTHORIZED', async (_name, make) => {
    const token = make();
    const res = await request(t.baseUrl).get('/api/mobile/v1/auth/me').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(401);
    expect(res.body.error).toEqual({ code: 'UNAUTHORIZED', message: 'Invalid or expired access token', requestId: expect.any(String) });

    const err = (await t.trpc(token).auth.me.query().catch((e: unknown) => e)) as TRPCClientError<any>;
    expect(err).toBeInstanceOf(TRPCClientError);
    expect(err.data).toMatchObject({ code: 'UNAUTHORIZED', httpStatus: 401, appCode: 'UNAUTHORIZED' });
    expect(err.data.stack).toBeUndefined();
  });
});
