import express from 'express';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import type { Deps } from './deps.js';
import { reportProcedureError, retryAfterHeaders } from './trpc/http-hooks.js';
import { requestContext, requestLogging } from './http/request-context.js';
import { stripeWebhookRouter } from './http/stripe-webhook.js';
import { mobileAuthRouter } from './http/mobile-auth.js';
import { healthRouter } from './http/health.js';
import { httpMetrics, markRouteBase, metricsRouter } from './http/metrics.js';
import { trpcCacheHeaders } from './http/http-cache.js';
import { flightSearchGet } from './http/flight-search.js';
import { demoRouter } from './dev/demo/router.js';
import { errorHandler, notFoundHandler } from './http/error-handler.js';
import { appRouter } from './trpc/router.js';
import { createContextFactory } from './trpc/trpc.js';

/**
 * The HTTP app over the dependencies it is given (server/deps.ts). Only the entrypoint (index.ts) and
 * tests import this file; everything below it takes its types from deps.ts.
 */
export function createApp(deps: Deps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.TRUST_PROXY_HOPS);

  app.use(requestContext);
  app.use(httpMetrics(Object.keys(appRouter._def.procedures)));
  app.use(requestLogging());

  // Raw body for Stripe signatures: must come before express.json().
  app.use(stripeWebhookRouter(deps));
  app.use(express.json({ limit: deps.config.BODY_LIMIT, strict: true }));
  app.use('/api/mobile/v1', markRouteBase, mobileAuthRouter(deps));
  // A flights.search GET is answered here, ahead of the adapter (http/flight-search.ts).
  app.get('/trpc/flights.search', flightSearchGet(deps));
  app.use('/trpc', trpcCacheHeaders(deps.config));
  app.use(
    '/trpc',
    createExpressMiddleware({
      router: appRouter,
      createContext: createContextFactory(deps),
      // One request may not run hundreds of procedures at once (a batch of bookings.create would hold
      // whole flights): a larger batch is refused as a whole, before any call runs.
      maxBatchSize: deps.config.TRPC_MAX_BATCH_SIZE,
      // Retry-After for every error that names one, as the REST error handler sends it.
      responseMeta: ({ errors }) => ({ headers: retryAfterHeaders(errors) }),
      onError: ({ error, path }) => reportProcedureError(error, path),
    }),
  );
  app.use(healthRouter(deps));
  app.use(metricsRouter(deps));
  // The demo page for frontend developers (/ and /bookings/:id): development only, never in tests or production.
  if (deps.config.NODE_ENV === 'development') app.use(demoRouter(deps));
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
