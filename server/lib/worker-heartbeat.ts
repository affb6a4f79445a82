import type { Redis } from './redis.js';

/**
 * The worker's sign of life: a Redis key every worker process renews every 15 s with a 60 s expiry,
 * read by the API's readiness probe (http/health.ts). Staleness is Redis's expiry, not a comparison of
 * two hosts' clocks: the key exists exactly while some worker renewed it within the last 60 s.
 */
export const WORKER_HEARTBEAT_KEY = 'worker:heartbeat';
export const WORKER_HEARTBEAT_INTERVAL_MS = 15_000;
export const WORKER_HEARTBEAT_STALE_SECONDS = 60;

export interface WorkerHeartbeat {
  at: string;
  pid: number;
}

export async function writeWorkerHeartbeat(redis: Redis, now: Date): Promise<void> {
  const beat: WorkerHeartbeat = { at: now.toISOString(), pid: process.pid };
  await redis.set(WORKER_HEARTBEAT_KEY, JSON.stringify(beat), 'EX', WORKER_HEARTBEAT_STALE_SECONDS);
}

/** The last heartbeat of any worker, or null when none renewed it within the last 60 s. */
export async function readWorkerHeartbeat(redis: Redis): Promise<WorkerHeartbeat | null> {
  const raw = await redis.get(WORKER_HEARTBEAT_KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as WorkerHeartbeat;
  } catch {
    return null;
  }
}

/**
 * Renews the heartbeat now and every 15 s until stopped. A failed renewal is logged by the caller's
 * `onError` and tried again on the next tick; a stopped worker simply lets the key expire (deleting it
 * would make a rolling restart look like an outage while the next worker starts).
 */
export function startWorkerHeartbeat(redis: Redis, clock: { now(): Date }, onError: (err: unknown) => void): { stop(): void } {
  const beat = () => void writeWorkerHeartbeat(redis, clock.now()).catch(onError);
  beat();
  const timer = setInterval(beat, WORKER_HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
