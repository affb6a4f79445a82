import * as Sentry from '@sentry/node';
import { env } from '../env.js';

let enabled = false;

export function initSentry(component: 'api' | 'worker'): void {
  if (!env.SENTRY_DSN || enabled) return;
  Sentry.init({ dsn: env.SENTRY_DSN, environment: env.NODE_ENV, initialScope: { tags: { component } }, tracesSampleRate: 0 });
  enabled = true;
}

export function captureException(err: unknown, context: Record<string, unknown> = {}): void {
  if (!enabled) return;
  Sentry.captureException(err, { extra: context });
}

export async function flushSentry(): Promise<void> {
  if (enabled) await Sentry.flush(2000);
}
