import { createSecretKey, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { env } from '../env.js';
import { AppError } from '../lib/errors.js';
import type { UserRole } from '../db/schema/index.js';

/** Short-lived JWT access tokens. HS256 only: `alg: none` and RS/HS confusion are refused on verify. */
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
const ISSUER = 'flight-booking-api';
const AUDIENCE = 'flight-booking-clients';
// A KeyObject made once: given a string, jsonwebtoken tries to parse it as a PEM public key on every
// verify (and fails), which was the single most expensive step of an authenticated request.
const signingKey = createSecretKey(Buffer.from(env.JWT_SECRET, 'utf8'));

export interface AccessClaims {
  userId: number;
  role: UserRole;
  jti: string;
}

export function signAccessToken(user: { id: number; role: UserRole }): { accessToken: string; expiresIn: number } {
  const accessToken = jwt.sign({ role: user.role }, signingKey, {
    algorithm: 'HS256',
    subject: String(user.id),
    issuer: ISSUER,
    audience: AUDIENCE,
    expiresIn: ACCESS_TOKEN_TTL_SECONDS,
    jwtid: randomUUID(),
  });
  return { accessToken, expiresIn: ACCESS_TOKEN_TTL_SECONDS };
}

export function verifyAccessToken(token: string): AccessClaims {
  let payload: jwt.JwtPayload | string;
  try {
    payload = jwt.verify(token, signingKey, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
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
