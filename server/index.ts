import cluster from 'node:cluster';
import { env } from './env.js';

/**
 * The API entrypoint. With API_WORKERS=1 (the default) this process is the API. With more, it is a
 * node:cluster primary that runs that many API processes on the same port (the kernel spreads the
 * connections) and restarts one that dies: the HTTP stack is CPU-bound in one process, so one per core
 * is how the API uses the machine. Each worker is a whole API process (api-server.ts).
 */
if (cluster.isPrimary && env.API_WORKERS > 1) {
  const { runClusterPrimary } = await import('./cluster.js');
  runClusterPrimary(env.API_WORKERS);
} else {
  await import('./api-server.js');
}
