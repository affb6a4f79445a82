import pino from 'pino';
import { env } from '../env.js';
import { currentContext } from './request-context.js';

/**
 * The one logger. Every line written while a request or job is running carries its requestId (and
 * user/job when known) through AsyncLocalStorage, so services never need a logger passed in.
 */
export const logger = pino({
  level: env.LOG_LEVEL,
  base: { pid: process.pid },
  mixin() {
    const ctx = currentContext();
    if (!ctx) return {};
    return { requestId: ctx.requestId, ...(ctx.userId ? { userId: ctx.userId } : {}), ...(ctx.jobId ? { jobId: ctx.jobId } : {}) };
  },
  redact: {
    paths: [
      'req.headers.authorization',
      'req.headers.cookie',
      'req.headers["stripe-signature"]',
      '*.password',
      '*.refreshToken',
      '*.accessToken',
    ],
    censor: '[redacted]',
  },
  timestamp: pino.stdTimeFunctions.isoTime,
  ...(env.NODE_ENV === 'development' && process.stdout.isTTY
    ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
    : {}),
});

