import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { logger } from '../lib/logger.js';
import type { OutboxTopic } from '../services/outbox.js';

/**
 * Every BullMQ queue of the system, in one place (the worker, the API's hand-off, the scripts and the
 * metrics read it). One queue per concern, each with its own concurrency, so a slow Stripe call never
 * holds up an e-mail or hold expiry. Each name is one Redis Cluster hash tag (`{email}`): all keys of
 * one queue land in one slot, as BullMQ's Lua scripts need, and different queues spread over the cluster.
 * Keys are `<REDIS_KEY_PREFIX>bull:{email}:...`. These names are stable: renaming one strands its jobs.
 */
export const QUEUES = {
  /** Confirmation e-mails (outbox `send_booking_confirmation`). */
  email: { name: '{email}', concurrency: 5 },
  /** Stripe calls after a commit: refunds, session expiry (outbox `stripe_refund`, `stripe_expire_session`). */
  stripe: { name: '{stripe}', concurrency: 5 },
  /** Stripe events stored unprocessed after a failure a retry may cure, re-driven from their payload. */
  webhookRetry: { name: '{webhook-retry}', concurrency: 2 },
  /** The daily reconciliation with Stripe. */
  reconciliation: { name: '{reconciliation}', concurrency: 1 },
  /** Recurring housekeeping: the outbox relay's sweep, hold expiry, idempotency-key cleanup. */
  maintenance: { name: '{maintenance}', concurrency: 1 },
} as const;
export type QueueKey = keyof typeof QUEUES;
export const QUEUE_KEYS = Object.keys(QUEUES) as QueueKey[];

/** BullMQ's key prefix: `<REDIS_KEY_PREFIX>bull`. */
export const bullPrefix = (redisKeyPrefix: string) => `${redisKeyPrefix}bull`;

/** Finished jobs kept for inspection: the last completed ones, and failed ones for a week. */
const KEEP = { removeOnComplete: { count: 1000 }, removeOnFail: { age: 7 * 24 * 3600 } } satisfies JobsOptions;

/**
 * Which queue runs each outbox topic, and how hard it tries. BullMQ owns the attempts and the
 * exponential back-off (delay * 2^(attempt-1)); after the last attempt the row becomes `failed`.
 */
export const OUTBOX_JOBS: Record<OutboxTopic, { queue: QueueKey; opts: JobsOptions }> = {
  // 30 s, 1 min, 2 min ... ~4 h: about 8.5 hours of SMTP trouble before a human is asked.
  send_booking_confirmation: { queue: 'email', opts: { attempts: 10, backoff: { type: 'exponential', delay: 30_000 }, ...KEEP } },
  // 15 s ... ~4 h: a refund keeps being asked for through a long Stripe incident.
  stripe_refund: { queue: 'stripe', opts: { attempts: 12, backoff: { type: 'exponential', delay: 15_000 }, ...KEEP } },
  stripe_expire_session: { queue: 'stripe', opts: { attempts: 8, backoff: { type: 'exponential', delay: 15_000 }, ...KEEP } },
};

/**
 * `outbox-<id>`: one BullMQ job per outbox row, so BullMQ refuses a second add of the same row. (Not
 * `outbox:<id>`: BullMQ rejects custom ids containing `:`, its key separator.)
 */
export const outboxJobId = (outboxId: number) => `outbox-${outboxId}`;
export interface OutboxJobData {
  outboxId: number;
  topic: OutboxTopic;
  /** The request that caused the job; its log lines carry it. */
  requestId: string | null;
}

/**
 * A Stripe event that failed with a retryable error: first retry 20 s later, then 40 s, 80 s ... about
 * 42 minutes in all, beside Stripe's own redelivery (whichever comes first processes it). After the
 * last attempt the event is flagged `needs_attention`.
 */
export const WEBHOOK_RETRY = { firstDelayMs: 20_000, opts: { attempts: 8, backoff: { type: 'exponential', delay: 20_000 }, ...KEEP } satisfies JobsOptions };
export const webhookRetryJobId = (eventId: string) => `stripe-event-${eventId}`;
export interface WebhookRetryJobData {
  eventId: string;
  requestId: string | null;
}

export type Queues = Record<QueueKey, Queue>;

/**
 * One Queue object per queue over one connection. Every Queue gets an `error` listener: a Redis that
 * restarts costs a reconnect and a log line, never an unhandled 'error' event.
 */
export function createQueues(connection: Redis, prefix: string): Queues & { close(): Promise<void> } {
  const queues = Object.fromEntries(
    QUEUE_KEYS.map((key) => {
      const queue = new Queue(QUEUES[key].name, { connection: connection as unknown as ConnectionOptions, prefix });
      queue.on('error', (err) => logger.warn({ err, queue: QUEUES[key].name }, 'queue connection error; reconnecting'));
      return [key, queue];
    }),
  ) as Queues;
  return Object.assign(queues, {
    async close() {
      await Promise.allSettled(QUEUE_KEYS.map((k) => queues[k].close()));
    },
  });
}
