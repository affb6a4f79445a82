import { Router } from 'express';
import { sql } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import { logger } from '../lib/logger.js';

type Check = { status: 'ok'; latencyMs: number } | { status: 'error'; error: string; latencyMs: number };

async function timed(name: string, fn: () => Promise<unknown>, timeoutMs: number): Promise<Check> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'ok', latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    // /health is public: the client learns which check failed, not hosts, users or driver messages.
    logger.warn({ err, check: name }, 'health check failed');
    const error = (err as Error).message?.startsWith('timed out') ? 'timeout' : 'unavailable';
    return { status: 'error', error, latencyMs: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRouter(deps: Pick<Deps, 'db' | 'redis'>): Router {
  const r = Router();
  r.get('/health', async (_req, res) => {
    const [database, redis] = await Promise.all([
      timed('database', () => deps.db.execute(sql`SELECT 1`), 2000),
      timed('redis', () => deps.redis.ping(), 2000),
    ]);
    const checks = { database, redis };
    const ok = Object.values(checks).every((c) => c.status === 'ok');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'error', checks });
  });
  return r;
}
