import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { ZodError } from 'zod';
import { AppError, asAppError, isAppError, type AppErrorCode } from '../lib/errors.js';
import { logger } from '../lib/logger.js';
import { captureException } from '../lib/sentry.js';
import { currentRequestId } from '../lib/request-context.js';

/** The one REST error envelope: {"error": {"code", "message", "requestId"}}. */
export function sendError(res: Response, status: number, code: AppErrorCode | string, message: string, extra: Record<string, unknown> = {}) {
  res.status(status).json({ error: { code, message, requestId: currentRequestId(), ...extra } });
}

/** body-parser's errors carry a `type`; map them to client errors instead of 500s. */
function bodyParserError(err: unknown): AppError | undefined {
  const type = (err as { type?: unknown })?.type;
  switch (type) {
    case 'entity.parse.failed':
      return new AppError('MALFORMED_JSON', 'Request body is not valid JSON');
    case 'entity.too.large':
      return new AppError('PAYLOAD_TOO_LARGE', 'Request body is too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported body encoding or charset');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new AppError('VALIDATION', 'Request body could not be read');
    default:
      return undefined;
  }
}

export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  if (res.headersSent) return;
  const known = asAppError(err) ?? bodyParserError(err);
  if (known) {
    if (known.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(known.retryAfterSeconds));
    if (known.httpStatus >= 500) logger[isAppError(err) ? 'error' : 'warn']({ err, path: req.path }, 'request failed');
    sendError(res, known.httpStatus, known.code, known.message, known.details ? { details: known.details } : {});
    return;
  }
  if (err instanceof ZodError) {
    sendError(res, 400, 'VALIDATION', 'Invalid input: ' + err.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    return;
  }
  // Errors Express itself raises for a bad request (a malformed URI, ...) carry a 4xx status.
  const status = (err as { status?: unknown; statusCode?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    sendError(res, status, status === 404 ? 'NOT_FOUND' : 'VALIDATION', 'The request could not be understood');
    return;
  }
  // Anything else is a bug or an outage: full detail to the log and Sentry, nothing to the client.
  logger.error({ err, method: req.method, path: req.path }, 'unhandled error');
  captureException(err, { method: req.method, path: req.path });
  sendError(res, 500, 'INTERNAL', 'Internal server error');
};

export const notFoundHandler: RequestHandler = (req, res) => {
  sendError(res, 404, 'NOT_FOUND', `No route for ${req.method} ${req.path}`);
};

/** POST/PUT/PATCH bodies must be JSON; anything else is a 415 in the envelope, not a confusing 400. */
export const requireJson: RequestHandler = (req, _res, next) => {
  if (['POST', 'PUT', 'PATCH'].includes(req.method) && Number(req.headers['content-length'] ?? 0) > 0 && !req.is('application/json')) {
    next(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json'));
    return;
  }
  next();
};
