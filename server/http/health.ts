import { Router, type Request, type Response } from 'express';
import { sql } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import { logger } from '../lib/logger.js';
import { TimeoutError, withTimeout } from '../lib/timeout.js';
import { readWorkerHeartbeat } from '../lib/worker-heartbeat.js';
import { outboxAges } from '../services/ops-status.js';

/**
 * Probes. `/health/live`: the process answers, nothing else is checked, so a database outage does not
 * get every pod restarted. `/health/ready` (and `/health`, for probes configured before it existed):
 * the database, Redis and the queue (a worker's heartbeat is fresh, outbox rows reach the queue),
 * each under its own timeout. 503 names the failing checks; a `degraded` check (an optional part such
 * as a cache) keeps 200. Redis is such a part for the API: without it searches come from the database
 * and rate limits count per process, so its failure is degraded, not a reason to take every API process
 * out of the load balancer (the queue check, whose heartbeat lives in Redis, is degraded with it).
 */
export type CheckStatus = 'ok' | 'degraded' | 'error';
export interface CheckResult {
  status: CheckStatus;
  latencyMs: number;
  /** Why it is not ok, in a word or two: never a driver message (hosts, users), since /health is public. */
  error?: string;
  [detail: string]: unknown;
}
/** A check resolves to its status (and details), or throws (`error: unavailable`, or `timeout`). */
export type HealthCheck = () => Promise<Omit<CheckResult, 'latencyMs'> | void>;

const CHECK_TIMEOUT_MS = 2000;

async function runCheck(name: string, check: HealthCheck): Promise<CheckResult> {
  const started = performance.now();
  const latencyMs = () => Math.round(performance.now() - started);
  try {
    const result = await withTimeout(check(), CHECK_TIMEOUT_MS, `health check ${name}`);
    if (result && result.status !== 'ok') logger.warn({ check: name, result }, 'health check not ok');
    return { status: 'ok', ...result, latencyMs: latencyMs() };
  } catch (err) {
    logger.warn({ err, check: name }, 'health check failed');
    return { status: 'error', error: err instanceof TimeoutError ? 'timeout' : 'unavailable', latencyMs: latencyMs() };
  }
}

/**
 * The queue: some worker renewed its heartbeat within 60 s, and no due outbox row has waited longer than
 * HEALTH_OUTBOX_MAX_AGE_SECONDS to be handed to the queue (nothing relays them). A backlog of rows the
 * queue holds and retries on purpose (an SMTP outage, Stripe down) is `degraded`, not unready: every API
 * process would fail at once over a downstream it does not need to serve, and the API would go dark.
 * The backlog stays visible here, in `outbox_oldest_pending_seconds` and in its alert.
 */
function queueCheck(deps: Pick<Deps, 'db' | 'redis' | 'config' | 'clock'>): HealthCheck {
  return async () => {
    if (deps.redis.status !== 'ready' && deps.redis.status !== 'wait') return { status: 'degraded', error: 'redis_unavailable' };
    const [heartbeat, outbox] = await Promise.all([readWorkerHeartbeat(deps.redis), outboxAges(deps.db)]);
    const details = {
      workerHeartbeatAgeSeconds: heartbeat ? Math.max(0, Math.round((deps.clock.now().getTime() - Date.parse(heartbeat.at)) / 1000)) : null,
      oldestPendingOutboxSeconds: Math.round(outbox.oldestPendingSeconds),
      oldestUnrelayedOutboxSeconds: Math.round(outbox.oldestUnrelayedSeconds),
    };
    const maxAge = deps.config.HEALTH_OUTBOX_MAX_AGE_SECONDS;
    if (!heartbeat) return { status: 'error', error: 'no_worker_heartbeat', ...details };
    if (outbox.oldestUnrelayedSeconds > maxAge) return { status: 'error', error: 'outbox_not_relayed', ...details };
    if (outbox.oldestPendingSeconds > maxAge) return { status: 'degraded', error: 'outbox_backlog', ...details };
    return { status: 'ok', ...details };
  };
}

export function healthRouter(deps: Pick<Deps, 'db' | 'redis' | 'config' | 'clock'>, optional: Record<string, HealthCheck> = {}): Router {
  const checks: Record<string, HealthCheck> = {
    database: async () => void (await deps.db.execute(sql`SELECT 1`)),
    queue: queueCheck(deps),
  };
  const optionalChecks: Record<string, HealthCheck> = { redis: async () => void (await deps.redis.ping()), ...optional };
  const ready = async (_req: Request, res: Response) => {
    const names = [...Object.keys(checks), ...Object.keys(optionalChecks)];
    const results = await Promise.all(names.map((name) => runCheck(name, checks[name] ?? optionalChecks[name]!)));
    const byName = Object.fromEntries(names.map((name, i) => [name, results[i]!]));
    // An optional part that fails is degraded, not down: the service still answers without it.
    for (const name of Object.keys(optionalChecks)) if (byName[name]!.status === 'error') byName[name]!.status = 'degraded';
    const failing = names.filter((name) => byName[name]!.status === 'error');
    const degraded = names.some((name) => byName[name]!.status === 'degraded');
    res.setHeader('Cache-Control', 'no-store');
    res.status(failing.length ? 503 : 200).json({
      status: failing.length ? 'error' : degraded ? 'degraded' : 'ok',
      ...(failing.length ? { failing } : {}),
      checks: byName,
    });
  };
  const r = Router();
  r.get('/health/live', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  });
  r.get('/health/ready', ready);
  r.get('/health', ready);
  return r;
}
