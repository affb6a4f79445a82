/**
 * The mobile REST API's contract: the zod schemas that validate each request body, and the shapes of
 * its answers. The OpenAPI document (mobile-openapi.ts) is generated from these same schemas, so what
 * the document promises is what the server checks.
 */
import { z } from 'zod';
import { USER_ROLES } from '../db/schema/users.js';
import { ERROR_CODES, type AppErrorCode } from '../lib/errors.js';

// Trimmed and lower-cased before validation, so " A@Example.com " and "a@example.com" are one account.
const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('must be a valid email address'))
  .meta({ description: 'Trimmed and lower-cased before use: one account per address', example: 'noura@example.com' });

export const RegisterBody = z
  .object({
    email: Email,
    // Never trimmed: spaces are part of a password.
    password: z.string().min(10, 'must be at least 10 characters').max(128, 'must be at most 128 characters').meta({ description: 'Used as given, never trimmed' }),
    name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
  })
  .meta({ id: 'RegisterBody' });

// Only the shape is checked at login: the length rules are for choosing a password, not for refusing one.
export const LoginBody = z
  .object({
    email: Email,
    password: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters'),
  })
  .meta({ id: 'LoginBody' });

export const RefreshTokenBody = z
  .object({
    refreshToken: z.string().min(1, 'must not be empty').max(512, 'must be at most 512 characters'),
  })
  .meta({ id: 'RefreshTokenBody' });

export const User = z
  .object({
    id: z.number().int(),
    email: z.string(),
    name: z.string(),
    role: z.enum(USER_ROLES),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'User' });

export const TokenPair = z
  .object({
    accessToken: z.string().meta({ description: 'JWT for `Authorization: Bearer ...` on REST and tRPC' }),
    refreshToken: z.string().meta({ description: 'Single use: each refresh returns a new one' }),
    expiresIn: z.number().int().meta({ description: 'Seconds until the access token expires' }),
  })
  .meta({ id: 'TokenPair' });

export const AuthSession = TokenPair.extend({ user: User }).meta({ id: 'AuthSession' });

export const MeResponse = z.object({ user: User }).meta({ id: 'MeResponse' });

/** The one REST error envelope, its `code` narrowed to the codes a given status carries. */
export function errorEnvelope(codes: readonly AppErrorCode[]) {
  return z.object({
    error: z.object({
      code: z.enum(codes as [AppErrorCode, ...AppErrorCode[]]),
      message: z.string(),
      requestId: z.string().meta({ description: 'Also in the X-Request-Id response header; quote it when reporting a problem' }),
      details: z.unknown().optional(),
    }),
  });
}

/** Every code the mobile API can answer with, by HTTP status. */
export function codesByStatus(codes: readonly AppErrorCode[]): Map<number, AppErrorCode[]> {
  const out = new Map<number, AppErrorCode[]>();
  for (const code of codes) out.set(ERROR_CODES[code].http, [...(out.get(ERROR_CODES[code].http) ?? []), code]);
  return out;
}
