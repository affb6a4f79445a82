import type { RequestHandler } from 'express';
import { requestIdFrom, runWithContext } from '../lib/request-context.js';

/**
 * First middleware: picks the request id (the caller's when sane, else a new UUID), echoes it, and runs
 * the rest of the request inside AsyncLocalStorage so every log line of the request carries it.
 */
export const requestContext: RequestHandler = (req, res, next) => {
  const requestId = requestIdFrom(req.headers['x-request-id']);
  res.setHeader('X-Request-Id', requestId);
  runWithContext({ requestId }, () => next());
};
