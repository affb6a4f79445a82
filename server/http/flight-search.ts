import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { callTRPCProcedure, getTRPCErrorFromUnknown, getTRPCErrorShape } from '@trpc/server';
import { getHTTPStatusCode } from '@trpc/server/http';
import type { Deps } from '../deps.js';
import { cachedSearchJson } from '../services/flights.js';
import { appRouter } from '../trpc/router.js';
import { createContextFactory } from '../trpc/trpc.js';
import { reportProcedureError, retryAfterHeaders } from '../trpc/http-hooks.js';
import { SearchFlightsInput } from '../trpc/routers/flights.js';
import { sendPublicJson } from './http-cache.js';

const PATH = 'flights.search';

/**
 * GET /trpc/flights.search, the hottest public read, answered ahead of tRPC's HTTP adapter (which builds
 * a fetch Request, an AbortController and a Response stream per call: measured, more CPU than the rest
 * of a cached search). Same wire format, headers and errors as the adapter, tested side by side:
 * - a cache hit is one Redis round trip and the cached bytes, sent as they are;
 * - anything else runs the procedure itself through tRPC's own caller (its input schema, its error
 *   formatter), and answers `{"result":{"data":...}}` or `{"error":...}` with tRPC's HTTP status.
 * A batch, or an `input` that is not JSON, goes on to the adapter.
 */
export function flightSearchGet(deps: Deps): RequestHandler {
  const sendPublic = sendPublicJson(deps.config);
  const createContext = createContextFactory(deps);
  return (req, res, next) => {
    const query = req.url.indexOf('?');
    // Exactly the adapter's path: Express routing ignores case and a trailing slash, tRPC does not.
    if (req.method !== 'GET' || req.path !== `/trpc/${PATH}`) return next();
    const params = new URLSearchParams(query < 0 ? '' : req.url.slice(query + 1));
    if (params.has('batch')) return next();
    const raw = params.get('input');
    let input: unknown;
    try {
      input = raw === null ? undefined : JSON.parse(raw);
    } catch {
      return next();
    }
    void (async () => {
      const valid = SearchFlightsInput.safeParse(input);
      const cached = valid.success ? await cachedSearchJson(deps, valid.data) : undefined;
      if (cached !== undefined) return sendPublic(req, res, `{"result":{"data":{"flights":${cached}}}}`);
      const ctx = createContext({ req });
      try {
        const data: unknown = await callTRPCProcedure({ router: appRouter, path: PATH, getRawInput: async () => input, ctx, type: 'query', signal: undefined, batchIndex: 0 });
        sendPublic(req, res, JSON.stringify({ result: { data } }));
      } catch (cause) {
        const error = getTRPCErrorFromUnknown(cause);
        reportProcedureError(error, PATH);
        const response = { error: getTRPCErrorShape({ config: appRouter._def._config, error, type: 'query', path: PATH, input, ctx }) };
        // The status the formatted error names (an AppError's own), as the adapter reads it.
        sendPrivate(res, getHTTPStatusCode(response), JSON.stringify(response), retryAfterHeaders([error]));
      }
    })().catch(next);
  };
}

/** An error answer, as the adapter and trpcCacheHeaders send it: never kept by a shared cache. */
function sendPrivate(res: ServerResponse<IncomingMessage>, status: number, json: string, headers: Record<string, string>): void {
  res.statusCode = status;
  res.setHeader('Cache-Control', 'private, no-store');
  res.setHeader('Vary', 'trpc-accept, accept');
  res.setHeader('Content-Type', 'application/json');
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(json);
}
