import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Router, type Request, type RequestHandler } from 'express';
import { Gauge, Registry } from 'prom-client';
import type { Deps } from '../deps.js';
import { logger } from '../lib/logger.js';
import { httpRequestDuration, processRegistry } from '../lib/metrics.js';
import { cachedLoader } from '../lib/timeout.js';
import { readOpsSnapshot, type OpsSnapshot } from '../services/ops-status.js';
import { sendError } from './error-handler.js';

/**
 * GET /metrics (Prometheus text format) and the HTTP request histogram.
 *
 * Who may read it: a caller on this host, or anyone presenting METRICS_TOKEN as a Bearer token when
 * it is set; everyone else gets 403. "On this host" is the socket's peer address, never `req.ip`:
 * with `trust proxy` set, req.ip comes from X-Forwarded-For, which any caller can write. And a
 * request that carries a forwarding header came through a proxy, which may well run on this host and
 * connect over loopback: the caller is whoever is behind it, so it needs the token.
 */
const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip', 'x-forwarded-host'];

export function isLoopbackCaller(req: IncomingMessage): boolean {
  if (!LOOPBACK.test(req.socket.remoteAddress ?? '')) return false;
  return !FORWARDING_HEADERS.some((h) => h in req.headers);
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Loopback, or `Authorization: Bearer <token>` equal to `token` (compared in constant time). */
export function metricsAccessAllowed(req: IncomingMessage, token: string | undefined): boolean {
  if (isLoopbackCaller(req)) return true;
  const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  return !!token && !!presented && timingSafeEqual(digest(presented), digest(token));
}

/**
 * The gauges read from the database, on scrape: at most one query at a time, reused for 5 s, waited
 * for at most 1 s. When the database does not answer in time, the gauges keep their last values (the
 * readiness probe and the database's own alerts report the outage) and the scrape still succeeds.
 */
function databaseGauges(deps: Pick<Deps, 'db'>): Registry {
  const registry = new Registry();
  const snapshot = cachedLoader(() => readOpsSnapshot(deps.db), { ttlMs: 5000, timeoutMs: 1000, what: 'metrics database gauges' });
  const read = async (): Promise<OpsSnapshot | undefined> =>
    snapshot().catch((err: unknown) => {
      logger.warn({ err }, 'metrics: could not read the database gauges; serving the last values');
      return undefined;
    });
  const gauge = (name: string, help: string, value: (s: OpsSnapshot) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const s = await read();
        if (s) this.set(value(s));
      },
    });
  gauge('outbox_pending', 'Outbox jobs not yet dispatched', (s) => s.outboxPending);
  gauge('outbox_oldest_pending_seconds', 'Age of the oldest pending outbox job, 0 when none', (s) => s.outboxOldestPendingSeconds);
  gauge('stripe_events_unprocessed', 'Stored Stripe events not processed yet (waiting for a retry, or flagged)', (s) => s.stripeEventsUnprocessed);
  new Gauge({
    name: 'needs_attention',
    help: 'Rows flagged for a human, by entity: bookings, Stripe events, failed outbox jobs',
    labelNames: ['entity'] as const,
    registers: [registry],
    async collect() {
      const s = await read();
      if (s) for (const [entity, n] of Object.entries(s.needsAttention)) this.set({ entity }, n);
    },
  });
  return registry;
}

/** Serves `registries` merged, to allowed callers only (the API's /metrics, the worker's). */
export function metricsHandler(registries: Registry[], token: string | undefined): RequestHandler {
  return async (req, res) => {
    if (!metricsAccessAllowed(req, token)) {
      sendError(res, 403, 'FORBIDDEN', 'Metrics are served to loopback callers, or with the metrics token');
      return;
    }
    const merged = Registry.merge(registries);
    res.setHeader('Content-Type', merged.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(await merged.metrics());
  };
}

export function metricsRouter(deps: Pick<Deps, 'db' | 'config'>): Router {
  const r = Router();
  r.get('/metrics', metricsHandler([processRegistry, databaseGauges(deps)], deps.config.METRICS_TOKEN));
  return r;
}

/** Records where a mounted router sits, for the route label (Express resets req.baseUrl when an error leaves the router). */
export const markRouteBase: RequestHandler = (req, res, next) => {
  res.locals.routeBase = req.baseUrl;
  next();
};

/**
 * The `route` label: the matched route's pattern (`/api/mobile/v1/auth/login`), or the tRPC procedure
 * (`/trpc/flights.search`; a batch of several is `/trpc/(batch)`). Never the raw URL: ids, query
 * strings and whatever a scanner tries would each make a new time series.
 */
function routeLabel(req: Request, res: { locals: Record<string, unknown> }, trpcProcedures: ReadonlySet<string>): string {
  const path = req.originalUrl.split('?')[0] ?? '';
  if (path.startsWith('/trpc/')) {
    const called = path.slice('/trpc/'.length).split(',');
    if (!called.every((p) => trpcProcedures.has(p))) return '/trpc/(unknown)';
    return called.length === 1 ? `/trpc/${called[0]}` : '/trpc/(batch)';
  }
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof pattern !== 'string') return '(unmatched)';
  const base = typeof res.locals.routeBase === 'string' ? res.locals.routeBase : req.baseUrl;
  return `${base}${pattern}`;
}

export function httpMetrics(trpcProcedures: Iterable<string>): RequestHandler {
  const known = new Set(trpcProcedures);
  return (req, res, next) => {
    const stop = httpRequestDuration.startTimer();
    res.on('finish', () => stop({ method: req.method, route: routeLabel(req, res, known), status: String(res.statusCode) }));
    next();
  };
}
