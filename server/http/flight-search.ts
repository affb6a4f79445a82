import type { RequestHandler } from 'express';
import type { Deps } from '../deps.js';
import { cachedSearchJson } from '../services/flights.js';
import { SearchFlightsInput } from '../trpc/routers/flights.js';
import { sendPublicJson } from './http-cache.js';

/**
 * GET /trpc/flights.search answered from the search cache before the tRPC adapter. The hottest public
 * read is mostly cache hits, and on a hit the adapter (a fetch Request, an AbortController, a Response
 * stream per call) and JSON round trips cost more than the answer: here a hit is one Redis round trip
 * and the cached bytes, in tRPC's wire format (`{"result":{"data":...}}`) with the headers the adapter
 * and trpcCacheHeaders send, byte for byte (tests/integration/search-cache.test.ts).
 *
 * Everything else goes on to tRPC unchanged: a batch, a miss (which fills the cache), an input the
 * procedure's own schema refuses, an unknown airport or a past date (tRPC words the error).
 */
export function cachedFlightSearch(deps: Deps): RequestHandler {
  const send = sendPublicJson(deps.config);
  return (req, res, next) => {
    const query = req.url.indexOf('?');
    // Exactly the adapter's path: Express routing ignores case and a trailing slash, tRPC does not.
    if (req.method !== 'GET' || query < 0 || req.path !== '/trpc/flights.search') return next();
    const params = new URLSearchParams(req.url.slice(query + 1));
    const raw = params.get('input');
    if (raw === null || params.has('batch')) return next();
    let parsed;
    try {
      parsed = SearchFlightsInput.safeParse(JSON.parse(raw));
    } catch {
      return next();
    }
    if (!parsed.success) return next();
    cachedSearchJson(deps, parsed.data).then((json) => {
      if (json === undefined) return next();
      send(req, res, `{"result":{"data":{"flights":${json}}}}`);
    }, next);
  };
}
