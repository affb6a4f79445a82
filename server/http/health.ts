import { Router } from 'express';
import { sql } from 'drizzle-orm';
import type { AppDeps } from '../app.js';

type Check = { status: 'ok'; latencyMs: number } | { status: 'error'; error: string; latencyMs: number };

async function timed(fn: () => Promise<unknown>, timeoutMs: number): Promise<Check> {
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
    // The check's name says what failed; the message is a short reason, never a stack.
    const message = (err as Error).message?.split('\n')[0]?.slice(0, 200) || 'unavailable';
    return { status: 'error', error: message, latencyMs: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRouter(deps: AppDeps): Router {
  const r = Router();
  r.get('/health', async (_req, res) => {
    const [database, redis] = await Promise.all([
      timed(() => deps.db.execute(sql`SELECT 1`), 2000),
      timed(() => deps.redis.ping(), 2000),
    ]);
    const checks = { database, redis };
    const ok = Object.values(checks).every((c) => c.status === 'ok');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'error', checks });
  });
  return r;
}
