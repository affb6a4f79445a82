import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/**
 * The process's Prometheus metrics that are not tied to one app instance: prom-client's default
 * process metrics and the domain counters. Like the logger, one per process, so a service can count
 * without being handed anything; the API (http/metrics.ts) and the worker (jobs/metrics-server.ts)
 * each serve it merged with their own registry of scrape-time gauges.
 *
 * Services never touch prom-client: they call the small `metrics` object below, usually through
 * `afterCommit` (db/after-commit.ts) so a rolled-back transaction counts nothing.
 */
export const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry });

const bookingsCreated = new Counter({
  name: 'bookings_created_total',
  help: 'Bookings created (committed)',
  registers: [processRegistry],
});

const bookingTransitions = new Counter({
  name: 'booking_transitions_total',
  help: 'Booking status changes (committed), by from and to status',
  labelNames: ['from', 'to'] as const,
  registers: [processRegistry],
});

export const WEBHOOK_OUTCOMES = ['processed', 'duplicate', 'ignored', 'failed_retryable', 'failed_permanent'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

const stripeWebhookEvents = new Counter({
  name: 'stripe_webhook_events_total',
  help: 'Verified Stripe webhook deliveries, by event type and outcome',
  labelNames: ['type', 'outcome'] as const,
  registers: [processRegistry],
});

const ledgerEntries = new Counter({
  name: 'ledger_entries_total',
  help: 'Ledger entries written (committed), by kind',
  labelNames: ['kind'] as const,
  registers: [processRegistry],
});

export const httpRequestDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP requests, by method, route pattern (or tRPC procedure) and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [processRegistry],
});

export const jobDuration = new Histogram({
  name: 'job_duration_seconds',
  help: 'Background jobs run by this worker, by queue, job name and outcome (completed, failed)',
  labelNames: ['queue', 'name', 'outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [processRegistry],
});

/** What services count. Each call is a counter increment: no I/O, nothing that can throw into a use case. */
export const metrics = {
  bookingCreated(): void {
    bookingsCreated.inc();
  },
  bookingTransition(from: string, to: string): void {
    bookingTransitions.inc({ from, to });
  },
  ledgerEntry(kind: string): void {
    ledgerEntries.inc({ kind });
  },
  webhookEvent(type: string, outcome: WebhookOutcome): void {
    stripeWebhookEvents.inc({ type, outcome });
  },
};
