import { Redis } from 'ioredis';

export type { Redis };

/** App connections fail fast so /health and requests do not hang when Redis is down. */
export function createRedis(url: string, opts: { keyPrefix?: string; lazyConnect?: boolean } = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: 2, connectTimeout: 2000, keyPrefix: opts.keyPrefix, lazyConnect: opts.lazyConnect });
}

/** BullMQ workers need blocking commands that never give up (maxRetriesPerRequest: null). */
export function createQueueRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: false });
}

/**
 * For adding jobs (BullMQ Queue objects): fails fast instead of queueing commands while Redis is away,
 * so a request that hands a job over after its commit never hangs on it (the outbox relay sweeps
 * what could not be handed over).
 */
export function createProducerRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 5000 });
}
