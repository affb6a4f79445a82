import { readFileSync } from 'node:fs';
import * as Sentry from '@sentry/node';
import type { Env } from '../env.js';
import { currentContext } from './request-context.js';
import { scrubValue } from './scrub.js';

/**
 * Error reports to Sentry, when SENTRY_DSN is set: unknown errors at the two edges, job failures,
 * unhandled rejections, and the reconciliation's findings (captureFinding). Every event carries the
 * release, the component (api, worker, script), and from the request or job context the request id,
 * the user id (never the e-mail) and the tRPC path or job name as tags. Every event goes through
 * `beforeSend`, which drops secret keys and scrubs every string (lib/scrub.ts) before anything leaves
 * the process.
 */
let enabled = false;

function defaultRelease(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  return `${pkg.name}@${pkg.version}`;
}

/** What beforeSend returns: the event with secret keys dropped, strings scrubbed, and no user but the id. */
export function scrubEvent<E extends Sentry.Event>(event: E): E {
  const scrubbed = scrubValue(event) as E;
  if (scrubbed.user) scrubbed.user = scrubbed.user.id === undefined ? {} : { id: scrubbed.user.id };
  if (scrubbed.request) {
    delete scrubbed.request.cookies;
    delete scrubbed.request.data;
  }
  return scrubbed;
}

export function initSentry(component: 'api' | 'worker' | 'script', config: Pick<Env, 'SENTRY_DSN' | 'SENTRY_RELEASE' | 'NODE_ENV'>): void {
  if (!config.SENTRY_DSN || enabled) return;
  Sentry.init({
    dsn: config.SENTRY_DSN,
    environment: config.NODE_ENV,
    release: config.SENTRY_RELEASE ?? defaultRelease(),
    initialScope: { tags: { component } },
    tracesSampleRate: 0,
    // Collect nothing about people or payloads: no user info beyond the id we set, no cookies, no
    // headers (Authorization, Stripe-Signature), no bodies (a register body holds a password), no query
    // strings, no bound query parameters, no job arguments, no local variables. beforeSend scrubs the rest.
    dataCollection: {
      userInfo: false,
      cookies: false,
      httpHeaders: false,
      httpBodies: [],
      urlQueryParams: false,
      databaseQueryData: false,
      queues: false,
      stackFrameVariables: false,
    },
    // The entrypoints report unhandled rejections and uncaught exceptions themselves, with the logger
    // (lib/process-handlers.ts); Sentry's own handlers would report them twice and write to the console.
    integrations: (defaults) => defaults.filter((i) => i.name !== 'OnUnhandledRejection' && i.name !== 'OnUncaughtException'),
    beforeSend: (event) => scrubEvent(event),
    beforeSendTransaction: (event) => scrubEvent(event),
    beforeBreadcrumb: (breadcrumb) => scrubValue(breadcrumb) as Sentry.Breadcrumb,
  });
  enabled = true;
}

export interface ReportContext {
  /** The tRPC procedure, e.g. `bookings.create`. */
  trpcPath?: string;
  /** The job name, e.g. `outbox-relay`, and its queue. */
  job?: string;
  queue?: string;
  [extra: string]: unknown;
}

/** The tags every event carries from the request or job it happened in, plus the caller's. */
function contextTags(context: Pick<ReportContext, 'trpcPath' | 'job' | 'queue'>): { tags: Record<string, string>; user?: { id: string } } {
  const ctx = currentContext();
  const tags: Record<string, string> = {};
  if (ctx?.requestId) tags.request_id = ctx.requestId;
  if (ctx?.userId) tags.user_id = String(ctx.userId);
  if (context.trpcPath) tags.trpc_path = context.trpcPath;
  if (context.job) tags.job_name = context.job;
  if (context.queue) tags.queue = context.queue;
  return ctx?.userId ? { tags, user: { id: String(ctx.userId) } } : { tags };
}

export function captureException(err: unknown, context: ReportContext = {}): void {
  if (!enabled) return;
  const { trpcPath, job, queue, ...extra } = context;
  const { tags, user } = contextTags({ trpcPath, job, queue });
  Sentry.captureException(err, { tags, extra, ...(user ? { user } : {}) });
}

/**
 * Something a human must look at that is not an exception (a reconciliation mismatch): a message
 * event, grouped by `fingerprint` rather than by its text, searchable by `tags`. Ids only in tags
 * and extra: never a name, an e-mail or a Stripe object (beforeSend scrubs them anyway).
 */
export function captureFinding(message: string, finding: { fingerprint: string[]; tags: Record<string, string>; extra?: Record<string, unknown> }): void {
  if (!enabled) return;
  const { tags } = contextTags({});
  Sentry.captureMessage(message, { level: 'error', fingerprint: finding.fingerprint, tags: { ...tags, ...finding.tags }, extra: finding.extra ?? {} });
}

export async function flushSentry(): Promise<void> {
  if (enabled) await Sentry.flush(2000);
}
