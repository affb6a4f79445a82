import type { RequestHandler } from 'express';
import etag from 'etag';
import fresh from 'fresh';
import type { Env } from '../env.js';

/** Procedures whose GET answers are the same for everyone, so a CDN may keep them for a few seconds. */
const PUBLIC_QUERIES = new Set(['/flights.search']);

/**
 * Cache headers for /trpc. `flights.search` over GET (one procedure, not a batch) answers 200 with
 * `Cache-Control: public, max-age=SEARCH_HTTP_MAX_AGE_SECONDS, stale-while-revalidate=...` and a strong
 * ETag of its body, and 304 with no body when If-None-Match names that ETag. Everything else (signed-in
 * reads, mutations, errors) is `private, no-store`: a shared cache must never hand one traveller's
 * booking to another. Seat counts move, so max-age is short; a booking checks the real inventory anyway.
 */
export function trpcCacheHeaders(config: Pick<Env, 'SEARCH_HTTP_MAX_AGE_SECONDS' | 'SEARCH_HTTP_STALE_SECONDS'>): RequestHandler {
  const publicControl = `public, max-age=${config.SEARCH_HTTP_MAX_AGE_SECONDS}, stale-while-revalidate=${config.SEARCH_HTTP_STALE_SECONDS}`;
  return (req, res, next) => {
    res.setHeader('Cache-Control', 'private, no-store');
    if (req.method !== 'GET' || !PUBLIC_QUERIES.has(req.path)) return next();
    // The ETag is of the bytes sent, so the body is held until the end (a search answer is a few KB).
    const chunks: Buffer[] = [];
    const end = res.end.bind(res);
    res.write = ((chunk: string | Uint8Array) => {
      chunks.push(Buffer.from(chunk));
      return true;
    }) as typeof res.write;
    res.end = ((chunk?: unknown) => {
      if (typeof chunk === 'string' || chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
      const body = Buffer.concat(chunks);
      if (res.statusCode !== 200) return end(body);
      const tag = etag(body);
      res.setHeader('Cache-Control', publicControl);
      res.setHeader('ETag', tag);
      if (fresh(req.headers, { etag: tag })) {
        res.statusCode = 304;
        res.removeHeader('Content-Type');
        return end();
      }
      res.setHeader('Content-Length', body.length);
      return end(body);
    }) as typeof res.end;
    next();
  };
}
