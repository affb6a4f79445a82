import pino, { type LoggerOptions } from 'pino';
import { env } from '../env.js';
import { currentContext } from './request-context.js';
import { scrubError } from './scrub.js';

/**
 * What never reaches a log line, by path: credentials in headers, passwords, tokens, card data.
 * `*.x` covers one level of nesting (`body.password`, `user.passwordHash`); errors are scrubbed whole
 * by the `err` serializer (query parameters, hashes, e-mail addresses in messages; lib/scrub.ts).
 */
const SECRET_FIELDS = ['password', 'newPassword', 'passwordHash', 'token', 'accessToken', 'refreshToken', 'secret', 'card', 'cardNumber', 'cvc', 'cvv'];
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["stripe-signature"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
];

/** The logger's options, apart from where lines go: tests build a logger over a stream of their own with them. */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: { pid: process.pid },
    mixin() {
      const ctx = currentContext();
      if (!ctx) return {};
      return { requestId: ctx.requestId, ...(ctx.userId ? { userId: ctx.userId } : {}), ...(ctx.jobId ? { jobId: ctx.jobId } : {}) };
    },
    serializers: {
      err: (err: unknown) => pino.stdSerializers.err(err instanceof Error ? scrubError(err) : (err as Error)),
    },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

/**
 * Where lines go: stdout, written asynchronously (pino's SonicBoom with sync: false). Lines queue in
 * memory while a write is in flight and leave in the next one, so under load a process makes one write
 * per batch of lines instead of one blocking write per line; pino flushes what is queued when the
 * process exits (process.exit included). Both loggers share the one destination, so their lines never
 * interleave mid-line. In development on a terminal, pino-pretty instead.
 */
const prettyTransport = env.NODE_ENV === 'development' && process.stdout.isTTY;
const pretty: LoggerOptions = prettyTransport
  ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
  : {};
const destination = prettyTransport ? undefined : pino.destination({ dest: 1, sync: false });

/**
 * The one logger. Every line written while a request or job is running carries its requestId (and
 * user/job when known) through AsyncLocalStorage, so services never need a logger passed in.
 */
export const logger = destination ? pino(loggerOptions(env.LOG_LEVEL), destination) : pino({ ...loggerOptions(env.LOG_LEVEL), ...pretty });

/**
 * The logger of pino-http's one line per request (http/request-context.ts). Without the request-context
 * mixin: pino-http binds the request id to its per-request child itself. Without redaction: that line
 * is built field by field (method, path without its query, status, duration), never from a request or
 * a body, and walking the redaction paths over it on every request is pure cost.
 */
const httpOptions: LoggerOptions = { ...loggerOptions(env.LOG_LEVEL), mixin: undefined, redact: undefined };
export const httpLogger = destination ? pino(httpOptions, destination) : pino({ ...httpOptions, ...pretty });
