/**
 * The HTTP side: Stripe's API under /v1 (Bearer test keys, Stripe-Version, Idempotency-Key, Stripe's
 * error bodies, fault injection), and anything else (the hosted pages) to `pages`.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import qs from 'qs';
import type { ApiRoute } from './api-routes.js';
import { ApiError } from './errors.js';
import { faultErrorBody, type ActiveFault, type FaultSwitch } from './faults.js';
import type { ApiResult, IdempotencyStore } from './idempotency.js';
import { rand } from './ids.js';
import type { Params } from './params.js';
import { FALLBACK_API_VERSION, type EmulatorState, type RecordedRequest, type RequestContext } from './state.js';

export interface PageRequest {
  method: string;
  url: URL;
  /** The raw request body (form posts). */
  body: string;
}
export interface PageResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}
/** Serves a non-API path, or returns null for a 404. */
export type PageHandler = (req: PageRequest) => Promise<PageResponse | null>;

export interface HttpServerOptions {
  state: EmulatorState;
  routes: ApiRoute[];
  faults: FaultSwitch;
  idempotency: IdempotencyStore;
  pages?: PageHandler;
  host: string;
  port: number;
  logger?: Logger;
}

const headerOf = (req: http.IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const parseParams = (raw: string): Params => (raw ? (qs.parse(raw, { depth: 10, arrayLimit: 100, parameterLimit: 10_000 }) as Params) : {});

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  if (res.destroyed || res.headersSent) return;
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-cache, no-store',
    ...headers,
  });
  res.end(text);
}

/** Stripe's 401 for a missing key or one that is not a test key. */
function authError(authorization: string): { status: number; body: unknown } | null {
  const key = authorization.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
  if (!key) {
    const message =
      "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').";
    return { status: 401, body: { error: { type: 'invalid_request_error', message } } };
  }
  if (/^(sk|rk)_test_/.test(key)) return null;
  const masked = `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`;
  return { status: 401, body: { error: { type: 'invalid_request_error', code: 'api_key_invalid', message: `Invalid API Key provided: ${masked}` } } };
}

export async function startHttpServer(o: HttpServerOptions): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const { state, routes, faults, idempotency } = o;
  const sockets = new Set<Socket>();
  const hanging = new Set<http.ServerResponse>();

  function applyFault(f: ActiveFault, res: http.ServerResponse, headers: Record<string, string>): void {
    if (f.mode === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    send(res, f.status ?? 500, faultErrorBody(f.status ?? 500), headers);
  }

  function dispatch(method: string, path: string, params: Params, ctx: RequestContext, headers: Record<string, string>): ApiResult {
    const errorResult = (e: ApiError, store: boolean): ApiResult => ({
      status: e.status,
      body: { error: { ...e.body, request_log_url: `https://dashboard.stripe.com/test/logs/${ctx.requestId}` } },
      store,
    });
    let match: { route: ApiRoute; m: RegExpExecArray } | null = null;
    for (const route of routes) {
      const m = route.method === method ? route.re.exec(path) : null;
      if (m) {
        match = { route, m };
        break;
      }
    }
    if (!match) {
      const message = `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`;
      return { status: 404, body: { error: { type: 'invalid_request_error', message } }, store: false };
    }
    const { route, m } = match;
    const run = (): ApiResult => {
      try {
        return { status: 200, body: route.handler(decodeURIComponent(m[1] ?? ''), params, ctx), store: true };
      } catch (e) {
        if (e instanceof ApiError) return errorResult(e, e.storeForIdempotency);
        throw e;
      }
    };
    if (method !== 'POST' || ctx.idempotencyKey === null) return run();
    try {
      return idempotency.once({ key: ctx.idempotencyKey, method, path, params, requestId: ctx.requestId }, headers, run);
    } catch (e) {
      if (e instanceof ApiError) return errorResult(e, false);
      throw e;
    }
  }

  async function handleApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL, raw: string): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname;
    const params = method === 'POST' ? parseParams(raw) : parseParams(url.search.slice(1));
    const idempotencyKey = headerOf(req, 'idempotency-key');
    const apiVersion = headerOf(req, 'stripe-version') ?? null;
    if (apiVersion) state.lastApiVersion = apiVersion;
    const entry: RecordedRequest = { method, path, body: params };
    if (idempotencyKey !== undefined) entry.idempotencyKey = idempotencyKey;
    state.requests.push(entry);

    const ctx: RequestContext = {
      requestId: `req_${rand(14)}`,
      idempotencyKey: method === 'POST' ? (idempotencyKey ?? null) : null,
      apiVersion,
    };
    const headers: Record<string, string> = { 'Request-Id': ctx.requestId, 'Stripe-Version': apiVersion ?? FALLBACK_API_VERSION };
    if (idempotencyKey !== undefined && method === 'POST') headers['Idempotency-Key'] = idempotencyKey;

    const fault = faults.take(path, method);
    if (fault && !fault.after) return applyFault(fault, res, headers);
    const denied = authError(headerOf(req, 'authorization') ?? '');
    const result = denied ?? dispatch(method, path, params, ctx, headers);
    if (fault) return applyFault(fault, res, headers);
    send(res, result.status, result.body, headers);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator.invalid');
    const raw = await readBody(req);
    if (url.pathname.startsWith('/v1/')) return handleApi(req, res, url, raw);
    const page = o.pages ? await o.pages({ method: (req.method ?? 'GET').toUpperCase(), url, body: raw }) : null;
    if (!page) return send(res, 404, { error: { type: 'invalid_request_error', message: `Not found: ${url.pathname}` } }, {});
    res.writeHead(page.status, page.headers);
    res.end(page.body);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A bug in the emulator: answer like Stripe's 500 so the SDK surfaces it, and make it visible.
      o.logger?.error({ err }, 'stripe-emulator internal error');
      send(res, 500, { error: { type: 'api_error', message: `stripe-emulator internal error: ${String(err)}` } }, {});
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const r of hanging) r.destroy();
        hanging.clear();
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
