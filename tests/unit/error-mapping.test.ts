import { describe, expect, it } from 'vitest';
import express from 'express';
import request from 'supertest';
import { z } from 'zod';
import { TRPCError } from '@trpc/server';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { AppError, ERROR_CODES, type AppErrorCode } from '../../server/lib/errors.js';
import { runWithContext } from '../../server/lib/request-context.js';
import { errorHandler, notFoundHandler } from '../../server/http/error-handler.js';
import { requestContext } from '../../server/http/request-context.js';
import { publicProcedure, router, type TrpcContext } from '../../server/trpc/trpc.js';

// The two edge mappers (tRPC's errorFormatter, Express's error handler) run for real here, over one
// table; nothing else in the codebase translates an AppError.
const CODES = Object.keys(ERROR_CODES) as AppErrorCode[];
// What an unexpected error might carry: it must reach the log, never the client.
const LEAKY = 'ER_NO_SUCH_TABLE: Table fbt_secret.bookings at db-primary.internal:3306';

const testRouter = router({
  fail: publicProcedure.input(z.object({ code: z.string() })).query(({ input }) => {
    throw new AppError(input.code as AppErrorCode, `refused: ${input.code}`, { hint: 'safe detail' });
  }),
  strict: publicProcedure.input(z.object({ n: z.number().int().min(1) })).query(({ input }) => input.n),
  crash: publicProcedure.query(() => {
    throw new Error(LEAKY);
  }),
});

async function callTrpc(path: string, input?: unknown) {
  const url = `http://unit.test/trpc/${path}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`;
  const res = await runWithContext({ requestId: 'req-unit-0001' }, () =>
    fetchRequestHandler({ endpoint: '/trpc', req: new Request(url), router: testRouter, createContext: () => ({}) as unknown as TrpcContext }),
  );
  const text = await res.text();
  return { status: res.status, text, error: (JSON.parse(text) as { error: { message: string; code: number; data: Record<string, unknown> } }).error };
}

function restApp() {
  const app = express();
  app.use(requestContext);
  app.use(express.json());
  app.get('/fail/:code', (req) => {
    const code = req.params.code as AppErrorCode;
    throw new AppError(code, `refused: ${code}`, code === 'SOLD_OUT' ? { seatsLeft: 0 } : undefined, code === 'RATE_LIMITED' ? 42 : undefined);
  });
  app.post('/strict', (req, res) => {
    res.json(z.object({ n: z.number() }).parse(req.body));
  });
  app.get('/crash', () => {
    throw new Error(LEAKY);
  });
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}

describe('the error table', () => {
  it.each(CODES)('%s has the same HTTP status over REST as tRPC gives its tRPC code', (code) => {
    const { trpc, http } = ERROR_CODES[code];
    expect(getHTTPStatusCodeFromError(new TRPCError({ code: trpc }))).toBe(http);
  });

  it('client mistakes are 4xx, outages 5xx, and only INTERNAL is a 500', () => {
    const fiveHundreds = CODES.filter((c) => ERROR_CODES[c].http >= 500);
    expect(fiveHundreds.sort()).toEqual(['INTERNAL', 'PAYMENT_PROVIDER_UNAVAILABLE', 'SERVICE_UNAVAILABLE']);
    expect(CODES.filter((c) => ERROR_CODES[c].http === 500)).toEqual(['INTERNAL']);
  });
});

describe('tRPC errorFormatter', () => {
  it.each(CODES)('an AppError %s keeps its domain code, message, details and request id', async (code) => {
    const { status, error } = await callTrpc('fail', { code });
    expect(status).toBe(ERROR_CODES[code].http);
    expect(error.message).toBe(`refused: ${code}`);
    expect(error.data).toMatchObject({ appCode: code, code: ERROR_CODES[code].trpc, httpStatus: ERROR_CODES[code].http, requestId: 'req-unit-0001', details: { hint: 'safe detail' } });
  });

  it('invalid input is BAD_REQUEST with appCode VALIDATION and the issues by path', async () => {
    const { status, error } = await callTrpc('strict', { n: 0 });
    expect(status).toBe(400);
    expect(error.message).toMatch(/^Invalid input: n: /);
    expect(error.data).toMatchObject({ appCode: 'VALIDATION', code: 'BAD_REQUEST', issues: [expect.objectContaining({ path: ['n'] })] });
  });

  it('an unexpected error becomes a generic 500: no message, no stack', async () => {
    const { status, text, error } = await callTrpc('crash');
    expect(status).toBe(500);
    expect(error.message).toBe('Internal server error');
    expect(error.data).toMatchObject({ appCode: 'INTERNAL', code: 'INTERNAL_SERVER_ERROR', requestId: 'req-unit-0001' });
    expect(text).not.toContain('fbt_secret');
    expect(text).not.toMatch(/\n\s+at |"stack"/);
  });

  it("tRPC's own errors keep their code (an unknown procedure is NOT_FOUND)", async () => {
    const { status, error } = await callTrpc('nowhere');
    expect(status).toBe(404);
    expect(error.data).toMatchObject({ appCode: 'NOT_FOUND', code: 'NOT_FOUND' });
  });
});

describe('REST error handler', () => {
  const app = restApp();

  it.each(CODES)('an AppError %s is its status in the one envelope, with the request id', async (code) => {
    const res = await request(app).get(`/fail/${code}`).set('X-Request-Id', 'req-unit-0002');
    expect(res.status).toBe(ERROR_CODES[code].http);
    expect(res.body.error).toMatchObject({ code, message: `refused: ${code}`, requestId: 'req-unit-0002' });
  });

  it('details reach the client when given; RATE_LIMITED carries Retry-After', async () => {
    expect((await request(app).get('/fail/SOLD_OUT')).body.error.details).toEqual({ seatsLeft: 0 });
    const limited = await request(app).get('/fail/RATE_LIMITED');
    expect(limited.headers['retry-after']).toBe('42');
    expect(limited.body.error.details).toBeUndefined();
  });

  it('a zod failure is 400 VALIDATION naming the field', async () => {
    const res = await request(app).post('/strict').send({ n: 'one' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION');
    expect(res.body.error.message).toMatch(/^Invalid input: n: /);
  });

  it('malformed JSON is 400 MALFORMED_JSON, not a 500', async () => {
    const res = await request(app).post('/strict').set('content-type', 'application/json').send('{"n":');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('MALFORMED_JSON');
  });

  it('an unexpected error becomes a generic 500 INTERNAL with only code, message and request id', async () => {
    const res = await request(app).get('/crash').set('X-Request-Id', 'req-unit-0003');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'INTERNAL', message: 'Internal server error', requestId: 'req-unit-0003' } });
  });

  it('an unknown route is 404 NOT_FOUND in the envelope', async () => {
    const res = await request(app).get('/nowhere');
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'NOT_FOUND', message: 'No route for GET /nowhere' });
  });
});
