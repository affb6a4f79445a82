import type { Server } from 'node:http';
import express from 'express';
import type { Registry } from 'prom-client';
import { logger } from '../lib/logger.js';
import { metricsHandler } from './metrics.js';
import { notFoundHandler } from './error-handler.js';

/**
 * The worker's GET /metrics on 127.0.0.1:WORKER_METRICS_PORT: the same access rule as the API's
 * (loopback, or the metrics token), its own process's metrics. Port 0 in the config turns it off.
 */
export async function startWorkerMetricsServer(opts: { port: number; token: string | undefined; registries: Registry[] }): Promise<{ close(): Promise<void> }> {
  if (opts.port === 0) return { close: async () => undefined };
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', metricsHandler(opts.registries, opts.token));
  app.use(notFoundHandler);
  let server: Server;
  try {
    server = await new Promise((resolve, reject) => {
      const s = app.listen(opts.port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
  } catch (err) {
    // A second worker on the same host, say. Jobs matter more than this worker's metrics: keep working, loudly.
    logger.error({ err, port: opts.port }, 'worker metrics server could not listen; running without it');
    return { close: async () => undefined };
  }
  logger.info({ port: opts.port }, `worker metrics on http://127.0.0.1:${opts.port}/metrics`);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
