import { createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Env } from '../env.js';
import { AppError } from '../lib/errors.js';
import type { UserRole } from '../db/schema/index.js';

/** Short-lived JWT access tokens. HS256 only: `alg: none` and RS/HS confusion are refused on verify. */
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
const ISSUER = 'flight-booking-api';
const AUDIENCE = 'flight-booking-clients';

export type AccessTokenConfig = Pick<Env, 'JWT_SECRET'>;

// One KeyObject per secret, made on first use: given a string, jsonwebtoken tries to parse it as a PEM
// public key on every verify (and fails), which was the single most expensive step of an authenticated
// request. A process has one secret (tests: one per configuration they build).
const keys = new Map<string, KeyObject>();
function signingKey(config: AccessTokenConfig): KeyObject {
  let key = keys.get(config.JWT_SECRET);
  if (!key) keys.set(config.JWT_SECRET, (key = createSecretKey(Buffer.from(config.JWT_SECRET, 'utf8'))));
  return key;
}

export interface AccessClaims {
  userId: number;
  role: UserRole;
  jti: string;
}

export function signAccessToken(config: AccessTokenConfig, user: { id: number; role: UserRole }): { accessToken: string; expiresIn: number } {
  const accessToken = jwt.sign({ role: user.role }, signingKey(config), {
    algorithm: 'HS256',
    subject: String(user.id),
    issuer: ISSUER,
    audience: AUDIENCE,
    expiresIn: ACCESS_TOKEN_TTL_SECONDS,
    jwtid: randomUUID(),
  });
  return { accessToken, expiresIn: ACCESS_TOKEN_TTL_SECONDS };
}

export function verifyAccessToken(config: AccessTokenConfig, token: string): AccessClaims {
  let payload: jwt.JwtPayload | string;
  try {
    payload = jwt.verify(token, signingKey(config), { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
  } catch {
    // Expired, forged, wrong algorithm: the client learns only that it must sign in again.
    throw new AppError('UNAUTHORIZED', 'Invalid or expired access token');
  }
  if (typeof payload === 'string' || !payload.sub || !/^\d+$/.test(payload.sub) || !payload.jti || !payload.iat || !payload.exp) {
    throw new AppError('UNAUTHORIZED', 'Invalid or expired access token');
  }
  const role = payload.role === 'admin' ? 'admin' : 'traveller';
  return { userId: Number(payload.sub), role, jti: payload.jti };
}

/** `Authorization: Bearer <token>` -> the token, or null when absent. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer ([A-Za-z0-9\-_.]+)$/i.exec(header.trim());
  if (!m) throw new AppError('UNAUTHORIZED', 'Authorization header must be "Bearer <access token>"');
  return m[1]!;
}
