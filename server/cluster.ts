import cluster, { type Worker } from 'node:cluster';
import { logger } from './lib/logger.js';

/** A worker that dies this soon after its start is failing to start: stop rather than fork in a loop. */
const CRASH_LOOP_MS = 5_000;

/**
 * The primary of API_WORKERS API processes. It serves nothing itself: it forks the workers, forks a
 * replacement when one dies unexpectedly, and on SIGTERM/SIGINT passes the signal on and exits once
 * every worker has finished its in-flight requests (each runs its own graceful shutdown).
 */
export function runClusterPrimary(workers: number): void {
  let shuttingDown = false;
  let failed = false;
  const startedAt = new Map<number, number>();
  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker.id, Date.now());
  };
  cluster.on('exit', (worker: Worker, code, signal) => {
    const lived = Date.now() - (startedAt.get(worker.id) ?? 0);
    startedAt.delete(worker.id);
    if (code !== 0) failed = true;
    if (shuttingDown) {
      if (startedAt.size === 0) {
        logger.info('all API workers stopped');
        process.exit(failed ? 1 : 0);
      }
      return;
    }
    if (lived < CRASH_LOOP_MS) {
      logger.fatal({ pid: worker.process.pid, code, signal }, 'an API worker died right after starting; stopping the others');
      void shutdown('crash');
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'an API worker died; starting another');
    fork();
  });
  const shutdown = (reason: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    if (reason === 'crash') failed = true;
    logger.info({ reason, workers: startedAt.size }, 'stopping the API workers');
    if (startedAt.size === 0) process.exit(failed ? 1 : 0);
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  logger.info({ workers }, 'starting API workers');
  for (let i = 0; i < workers; i++) fork();
}
