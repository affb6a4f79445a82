import { initTRPC } from '@trpc/server';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import type { CreateExpressContextOptions } from '@trpc/server/adapters/express';
import { ZodError } from 'zod';
import type { Deps } from '../deps.js';
import { asAppError, isAppError } from '../lib/errors.js';
import { currentRequestId } from '../lib/request-context.js';
import { authenticate } from '../services/auth.js';

export interface TrpcContext {
  deps: Deps;
  requestId: string;
  authorization: string | undefined;
}

export function createContextFactory(deps: Deps) {
  return ({ req }: Pick<CreateExpressContextOptions, 'req'>): TrpcContext => ({
    deps,
    requestId: currentRequestId() ?? 'unknown',
    authorization: req.headers.authorization,
  });
}

/** The message tRPC's resolver throws when a batch is over `maxBatchSize` (@trpc/server 11). */
const TRPC_BATCH_TOO_LARGE = 'Batch call exceeds maximum size';

const t = initTRPC.context<TrpcContext>().create({
  // Never send stacks to clients, whatever NODE_ENV says.
  isDev: false,
  errorFormatter({ shape, error }) {
    const requestId = currentRequestId();
    // A lock conflict that escaped is answered as the retryable 503 it stands for (lib/errors.ts).
    const cause = asAppError(error.cause) ?? error.cause;
    if (isAppError(cause)) {
      return {
        ...shape,
        message: cause.message,
        code: TRPC_ERROR_CODES_BY_KEY[cause.trpcCode],
        data: {
          code: cause.trpcCode,
          httpStatus: cause.httpStatus,
          path: shape.data.path,
          appCode: cause.code,
          requestId,
          ...(cause.details ? { details: cause.details } : {}),
        },
      };
    }
    if (cause instanceof ZodError) {
      return {
        ...shape,
        message: 'Invalid input: ' + cause.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; '),
        data: {
          code: shape.data.code,
          httpStatus: shape.data.httpStatus,
          path: shape.data.path,
          appCode: 'VALIDATION',
          requestId,
          issues: cause.issues.map((i) => ({ path: i.path.map(String), message: i.message, code: i.code })),
        },
      };
    }
    if (error.code === 'BAD_REQUEST' && error.message === TRPC_BATCH_TOO_LARGE) {
      // tRPC's own maxBatchSize refusal (app.ts), before any call of the batch ran.
      return {
        ...shape,
        message: 'Too many calls in one batch request (TRPC_MAX_BATCH_SIZE); none of them ran. Send them in smaller batches.',
        data: { code: shape.data.code, httpStatus: shape.data.httpStatus, path: shape.data.path, appCode: 'BATCH_TOO_LARGE', requestId },
      };
    }
    const internal = error.code === 'INTERNAL_SERVER_ERROR';
    return {
      ...shape,
      // An unexpected error's text may name tables or hosts: the client gets a generic message.
      message: internal ? 'Internal server error' : shape.message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        appCode: internal ? 'INTERNAL' : shape.data.code,
        requestId,
      },
    };
  },
});

export const router = t.router;
export const middleware = t.middleware;
export const publicProcedure = t.procedure;

/** Reads the same Bearer access token the mobile REST API issues; narrows ctx.user. */
export const protectedProcedure = t.procedure.use(({ ctx, next }) => next({ ctx: { ...ctx, user: authenticate(ctx.deps.config, ctx.authorization) } }));
