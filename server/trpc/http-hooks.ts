import type { TRPCError } from '@trpc/server';
import { logger } from '../lib/logger.js';
import { captureException } from '../lib/sentry.js';
import { asAppError, isAppError } from '../lib/errors.js';

/**
 * What the HTTP side does with a procedure's errors, shared by the tRPC adapter (app.ts) and the GET
 * handler of flights.search (http/flight-search.ts), so both answer and report an error alike.
 */

/** Retry-After for every error that names one (lock conflicts, IDEMPOTENCY_IN_PROGRESS, Stripe down). */
export function retryAfterHeaders(errors: readonly TRPCError[]): Record<string, string> {
  const wait = Math.max(0, ...errors.map((e) => asAppError(e.cause)?.retryAfterSeconds ?? 0));
  return wait > 0 ? { 'Retry-After': String(wait) } : {};
}

/** A 5xx is logged with the request id, and sent to Sentry unless it is a lock conflict answered 503. */
export function reportProcedureError(error: TRPCError, path: string | undefined): void {
  const known = asAppError(error.cause);
  const status = known ? known.httpStatus : error.code === 'INTERNAL_SERVER_ERROR' ? 500 : 400;
  if (known && !isAppError(error.cause) && status >= 500) {
    logger.warn({ err: error.cause, path }, 'tRPC procedure hit a lock conflict; answered 503');
  } else if (status >= 500) {
    logger.error({ err: error.cause ?? error, path }, 'tRPC procedure failed');
    captureException(error.cause ?? error, { trpcPath: path });
  }
}
