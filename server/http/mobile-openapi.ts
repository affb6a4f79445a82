/**
 * The mobile REST API as an OpenAPI 3.1 document, served at GET /api/mobile/v1/openapi.json. Generated
 * from the zod schemas that validate the requests (@asteasolutions/zod-to-openapi: zod in, OpenAPI 3.1
 * JSON Schema out, so there is no second hand-written description to drift), with every error a route
 * can answer in the one envelope.
 */
import { OpenApiGeneratorV31, OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { z } from 'zod';
import type { AppErrorCode } from '../lib/errors.js';
import { AuthSession, codesByStatus, errorEnvelope, LoginBody, MeResponse, RefreshTokenBody, RegisterBody, TokenPair } from './mobile-auth.schema.js';

/** Every JSON body may be malformed, too large or not JSON; every route may fail on our side. */
const BODY_ERRORS: AppErrorCode[] = ['VALIDATION', 'MALFORMED_JSON', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
const ALWAYS: AppErrorCode[] = ['INTERNAL'];
/** Every route that reads or writes the database may meet a lock conflict: a retryable 503. */
const DATABASE: AppErrorCode[] = ['SERVICE_UNAVAILABLE'];

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input: the message names each field (never echoing its value)',
  401: 'Not signed in, or credentials or token refused',
  409: 'Conflicts with existing data',
  413: 'Body over the size limit',
  415: 'Body is not application/json',
  429: 'Rate limited; retry after Retry-After seconds',
  500: 'Our failure; the detail is in our logs under requestId, never in the answer',
  503: 'Busy (a database lock conflict); nothing was changed, retry after Retry-After seconds',
};

interface MobileRoute {
  method: 'get' | 'post';
  path: string;
  summary: string;
  body?: z.ZodType;
  success: { status: number; description: string; schema?: z.ZodType };
  errors: AppErrorCode[];
  auth?: boolean;
}

export const MOBILE_ROUTES: MobileRoute[] = [
  {
    method: 'post',
    path: '/auth/register',
    summary: 'Create an account and sign in',
    body: RegisterBody,
    success: { status: 201, description: 'Signed in', schema: AuthSession },
    errors: [...BODY_ERRORS, 'EMAIL_TAKEN', 'RATE_LIMITED', ...DATABASE],
  },
  {
    method: 'post',
    path: '/auth/login',
    summary: 'Sign in with email and password',
    body: LoginBody,
    success: { status: 200, description: 'Signed in', schema: AuthSession },
    errors: [...BODY_ERRORS, 'INVALID_CREDENTIALS', 'RATE_LIMITED', ...DATABASE],
  },
  {
    method: 'post',
    path: '/auth/refresh',
    summary: 'Trade a refresh token for new tokens (rotation; a reused token ends the session family)',
    body: RefreshTokenBody,
    success: { status: 200, description: 'New tokens; the old refresh token is spent', schema: TokenPair },
    errors: [...BODY_ERRORS, 'INVALID_TOKEN', 'REFRESH_TOKEN_REUSED', 'RATE_LIMITED', ...DATABASE],
  },
  {
    method: 'post',
    path: '/auth/logout',
    summary: 'End the session family of a refresh token',
    body: RefreshTokenBody,
    success: { status: 204, description: 'Signed out (also for an unknown or spent token)' },
    errors: [...BODY_ERRORS, ...DATABASE],
  },
  {
    method: 'get',
    path: '/auth/me',
    summary: 'The signed-in user',
    success: { status: 200, description: 'The user', schema: MeResponse },
    errors: ['UNAUTHORIZED', ...DATABASE],
    auth: true,
  },
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    success: { status: 200, description: 'OpenAPI 3.1 document' },
    errors: [],
  },
];

const json = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } });

function toRouteConfig(route: MobileRoute): RouteConfig {
  const responses: RouteConfig['responses'] = {
    [route.success.status]: { description: route.success.description, ...(route.success.schema ? json(route.success.schema) : {}) },
  };
  for (const [status, codes] of codesByStatus([...route.errors, ...ALWAYS])) {
    responses[status] = {
      description: `${ERROR_DESCRIPTIONS[status] ?? 'Error'}: ${codes.join(', ')}`,
      ...(status === 429 || status === 503 ? { headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } } } : {}),
      ...json(errorEnvelope(codes)),
    };
  }
  return {
    method: route.method,
    path: route.path,
    summary: route.summary,
    ...(route.auth ? { security: [{ bearerAuth: [] }] } : {}),
    ...(route.body ? { request: { body: { required: true, ...json(route.body) } } } : {}),
    responses,
  };
}

let cached: object | null = null;

export function mobileOpenApiDocument(): object {
  if (cached) return cached;
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  for (const route of MOBILE_ROUTES) registry.registerPath(toRouteConfig(route));
  cached = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Flight booking: mobile REST API',
      version: '1.0.0',
      description: 'Sign-in for the mobile app. Errors always use {"error": {"code", "message", "requestId"}}. Every response carries X-Request-Id.',
    },
    servers: [{ url: '/api/mobile/v1' }],
  });
  return cached;
}
