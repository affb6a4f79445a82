import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import { httpLogger } from '../lib/logger.js';
import { currentRequestId, requestIdFrom, runWithContext } from '../lib/request-context.js';

/**
 * First middleware: picks the request id (the caller's when sane, else a new UUID), echoes it, and runs
 * the rest of the request inside AsyncLocalStorage so every log line of the request carries it.
 */
export const requestContext: RequestHandler = (req, res, next) => {
  const requestId = requestIdFrom(req.headers['x-request-id']);
  res.setHeader('X-Request-Id', requestId);
  runWithContext({ requestId }, () => next());
};

const omitted = () => undefined;

type Line = { durationMs: number };
const line = (req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, val: Line) => ({
  method: req.method,
  // Never the query string: a search's input is harmless, but a future one may not be.
  path: (req.originalUrl ?? req.url ?? '').split('?')[0],
  status: res.statusCode,
  durationMs: val.durationMs,
});

/**
 * One line per request when it finishes ("request completed": method, path, status, durationMs,
 * requestId), by pino-http: a child logger per request and one write, nothing more. Comes after
 * requestContext, whose id it reuses.
 */
export function requestLogging(): RequestHandler {
  return pinoHttp<IncomingMessage, ServerResponse>({
    logger: httpLogger,
    genReqId: () => currentRequestId() ?? 'unknown',
    quietReqLogger: true,
    quietResLogger: true,
    // pino-http binds the whole request to a child logger per request (serialized and redacted at once)
    // even when, as here, no line ever prints it: drop it, the line carries what it needs (line()).
    wrapSerializers: false,
    serializers: { req: omitted, res: omitted },
    customAttributeKeys: { reqId: 'requestId', responseTime: 'durationMs' },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
    customSuccessMessage: () => 'request completed',
    customErrorMessage: () => 'request completed',
    customSuccessObject: (req, res, val: Line) => line(req, res, val),
    customErrorObject: (req, res, _err, val: Line) => line(req, res, val),
  }) as unknown as RequestHandler;
}
