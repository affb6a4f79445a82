import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import etag from 'etag';
import fresh from 'fresh';
import type { Env } from '../env.js';

/** Procedures whose GET answers are the same for everyone, so a CDN may keep them for a few seconds. */
const PUBLIC_QUERIES = new Set(['/flights.search']);

type CacheConfig = Pick<Env, 'SEARCH_HTTP_MAX_AGE_SECONDS' | 'SEARCH_HTTP_STALE_SECONDS'>;

/**
 * Ends a public 200 answer: `Cache-Control: public, max-age=..., stale-while-revalidate=...`, a strong
 * ETag of the bytes, and 304 with no body when If-None-Match names that ETag. `end` is the response's
 * own end (trpcCacheHeaders wraps res.end).
 */
function endPublic(req: IncomingMessage, res: ServerResponse, body: Buffer, control: string, end: (chunk?: Buffer) => void): void {
  const tag = etag(body);
  res.setHeader('Cache-Control', control);
  res.setHeader('ETag', tag);
  if (fresh(req.headers, { etag: tag })) {
    res.statusCode = 304;
    res.removeHeader('Content-Type');
    end();
    return;
  }
  res.setHeader('Content-Length', body.length);
  end(body);
}

const publicControl = (config: CacheConfig) =>
  `public, max-age=${config.SEARCH_HTTP_MAX_AGE_SECONDS}, stale-while-revalidate=${config.SEARCH_HTTP_STALE_SECONDS}`;

/**
 * Sends `json` as a public tRPC query answer, with the headers tRPC's adapter sends for one
 * (http/flight-search.ts answers cached searches before the adapter).
 */
export function sendPublicJson(config: CacheConfig): (req: IncomingMessage, res: ServerResponse, json: string) => void {
  const control = publicControl(config);
  return (req, res, json) => {
    res.statusCode = 200;
    res.setHeader('Vary', 'trpc-accept, accept');
    res.setHeader('Content-Type', 'application/json');
    endPublic(req, res, Buffer.from(json), control, (chunk) => res.end(chunk));
  };
}

/**
 * Cache headers for /trpc. `flights.search` over GET (one procedure, not a batch) answers 200 with
 * `Cache-Control: public, max-age=SEARCH_HTTP_MAX_AGE_SECONDS, stale-while-revalidate=...` and a strong
 * ETag of its body, and 304 with no body when If-None-Match names that ETag. Everything else (signed-in
 * reads, mutations, errors) is `private, no-store`: a shared cache must never hand one traveller's
 * booking to another. Seat counts move, so max-age is short; a booking checks the real inventory anyway.
 */
export function trpcCacheHeaders(config: CacheConfig): RequestHandler {
  const control = publicControl(config);
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
      endPublic(req, res, body, control, (b) => (b ? end(b) : end()));
      return res;
    }) as typeof res.end;
    next();
  };
}
