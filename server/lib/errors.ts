import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';

/**
 * The one error type services throw. The closed set of codes below is mapped exactly once to a tRPC
 * code and an HTTP status (trpc.ts errorFormatter and http/error-handler.ts use this table).
 */
export const ERROR_CODES = {
  VALIDATION: { trpc: 'BAD_REQUEST', http: 400 },
  MALFORMED_JSON: { trpc: 'BAD_REQUEST', http: 400 },
  INVALID_SIGNATURE: { trpc: 'BAD_REQUEST', http: 400 },
  UNAUTHORIZED: { trpc: 'UNAUTHORIZED', http: 401 },
  INVALID_CREDENTIALS: { trpc: 'UNAUTHORIZED', http: 401 },
  INVALID_TOKEN: { trpc: 'UNAUTHORIZED', http: 401 },
  REFRESH_TOKEN_REUSED: { trpc: 'UNAUTHORIZED', http: 401 },
  FORBIDDEN: { trpc: 'FORBIDDEN', http: 403 },
  NOT_FOUND: { trpc: 'NOT_FOUND', http: 404 },
  CONFLICT: { trpc: 'CONFLICT', http: 409 },
  EMAIL_TAKEN: { trpc: 'CONFLICT', http: 409 },
  INVALID_STATE_TRANSITION: { trpc: 'CONFLICT', http: 409 },
  SOLD_OUT: { trpc: 'CONFLICT', http: 409 },
  IDEMPOTENCY_IN_PROGRESS: { trpc: 'CONFLICT', http: 409 },
  IDEMPOTENCY_PAYLOAD_MISMATCH: { trpc: 'UNPROCESSABLE_CONTENT', http: 422 },
  REFUND_WINDOW_CLOSED: { trpc: 'PRECONDITION_FAILED', http: 412 },
  SALES_CLOSED: { trpc: 'PRECONDITION_FAILED', http: 412 },
  PAYLOAD_TOO_LARGE: { trpc: 'PAYLOAD_TOO_LARGE', http: 413 },
  UNSUPPORTED_MEDIA_TYPE: { trpc: 'UNSUPPORTED_MEDIA_TYPE', http: 415 },
  RATE_LIMITED: { trpc: 'TOO_MANY_REQUESTS', http: 429 },
  TOO_MANY_HOLDS: { trpc: 'TOO_MANY_REQUESTS', http: 429 },
  PAYMENT_PROVIDER_UNAVAILABLE: { trpc: 'SERVICE_UNAVAILABLE', http: 503 },
  SERVICE_UNAVAILABLE: { trpc: 'SERVICE_UNAVAILABLE', http: 503 },
  INTERNAL: { trpc: 'INTERNAL_SERVER_ERROR', http: 500 },
} as const satisfies Record<string, { trpc: TRPC_ERROR_CODE_KEY; http: number }>;

export type AppErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: AppErrorCode,
    message: string,
    /** Safe to show to the client: never put secrets or internals here. */
    readonly details?: Record<string, unknown>,
    /** Seconds the client should wait before retrying (RATE_LIMITED, IDEMPOTENCY_IN_PROGRESS). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }
  get trpcCode(): TRPC_ERROR_CODE_KEY {
    return ERROR_CODES[this.code].trpc;
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** mysql2 errors arrive wrapped by drizzle; the driver's code is on the cause chain. */
export function mysqlErrorCode(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 5 && cur; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ER_')) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Failures a retry can cure: deadlocks, lock waits, a database that went away. */
export function isTransientDbError(err: unknown): boolean {
  const code = mysqlErrorCode(err);
  if (code && ['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_QUERY_INTERRUPTED', 'ER_SERVER_SHUTDOWN'].includes(code)) return true;
  let cur: unknown = err;
  for (let i = 0; i < 5 && cur; i++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'PROTOCOL_CONNECTION_LOST', 'ETIMEDOUT', 'EPIPE'].includes(c)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** Seconds a client is asked to wait after a lock conflict escaped to it: locks clear in milliseconds. */
const CONTENTION_RETRY_AFTER_SECONDS = 1;

/**
 * A deadlock or lock-wait timeout that reached the edge: nothing was committed (the transaction rolled
 * back) and the same request will very likely succeed in a moment, so the client gets a retryable 503
 * with Retry-After instead of a 500.
 */
export function contentionError(err: unknown): AppError | undefined {
  const code = mysqlErrorCode(err);
  if (code !== 'ER_LOCK_DEADLOCK' && code !== 'ER_LOCK_WAIT_TIMEOUT') return undefined;
  return new AppError('SERVICE_UNAVAILABLE', 'The service is busy right now; retry shortly', undefined, CONTENTION_RETRY_AFTER_SECONDS);
}

/** What the edge mappers answer for an error: the AppError itself, or the 503 a lock conflict stands for. */
export function asAppError(err: unknown): AppError | undefined {
  return isAppError(err) ? err : contentionError(err);
}
