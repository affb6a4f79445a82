import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.js';
import { AppError } from '../lib/errors.js';
import { requireJson } from './error-handler.js';
import { authenticate, getUser, login, logout, refreshSession, refreshTokenOwner, register } from '../services/auth.js';
import { AuthRateLimiter, authRateLimitRules } from '../services/rate-limit.js';
import { primeDummyHash } from '../services/passwords.js';
import { LoginBody, RefreshTokenBody, RegisterBody } from './mobile-auth.schema.js';
import { mobileOpenApiDocument } from './mobile-openapi.js';

/** Validates a JSON body; a failure is 400 VALIDATION naming each field (never echoing its value). */
function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AppError('VALIDATION', 'Request body must be a JSON object');
  }
  const result = schema.safeParse(body);
  if (!result.success) {
    throw new AppError('VALIDATION', 'Invalid input: ' + result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  }
  return result.data;
}

/** The client's address as Express derives it (`trust proxy` is TRUST_PROXY_HOPS). */
const clientIp = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';

/** Mobile REST API, mounted under /api/mobile/v1. */
export function mobileAuthRouter(deps: Deps): Router {
  const limits = new AuthRateLimiter(deps.redis, authRateLimitRules(deps.config));
  primeDummyHash();

  const r = Router();
  r.get('/openapi.json', (_req, res) => {
    res.json(mobileOpenApiDocument());
  });
  r.use(requireJson);
  r.use('/auth', (_req, res, next) => {
    // Token responses must not be kept by any cache (RFC 6749 section 5.1).
    res.set('Cache-Control', 'private, no-store');
    next();
  });

  r.post('/auth/register', async (req, res) => {
    const input = parseBody(RegisterBody, req.body);
    await limits.beforeRegister(clientIp(req));
    res.status(201).json(await register(deps, input));
  });

  r.post('/auth/login', async (req, res) => {
    const input = parseBody(LoginBody, req.body);
    await limits.beforeLogin(clientIp(req), input.email);
    const session = await login(deps, input);
    await limits.loginSucceeded(clientIp(req), input.email);
    res.json(session);
  });

  r.post('/auth/refresh', async (req, res) => {
    const input = parseBody(RefreshTokenBody, req.body);
    await limits.beforeRefresh(clientIp(req), input.refreshToken);
    const owner = await refreshTokenOwner(deps, input);
    if (owner !== null) await limits.beforeRefreshOfAccount(owner);
    const tokens = await refreshSession(deps, input);
    await limits.refreshSucceeded(clientIp(req));
    res.json(tokens);
  });

  r.post('/auth/logout', async (req, res) => {
    await logout(deps, parseBody(RefreshTokenBody, req.body));
    res.status(204).end();
  });

  r.get('/auth/me', async (req, res) => {
    const { userId } = authenticate(deps.config, req.headers.authorization);
    res.json({ user: await getUser(deps.db, userId) });
  });

  return r;
}
