import type { Logger } from 'pino';
import type { Db } from './db/types.js';
import type { Env } from './env.js';
import type { Redis } from './lib/redis.js';
import type { Stripe } from './lib/stripe.js';
import type { JobDispatcher } from './services/job-dispatcher.js';

/** The current time. Services never call `new Date()` for a business decision; they ask the clock. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * What every use case receives. Built once by each entrypoint (server/index.ts, server/worker.ts) and by
 * tests with their own database, Redis prefix, fake Stripe, config and clock. Nothing imports it back
 * from app.ts: this file is the contract, the entrypoints are the composition roots.
 */
export interface Deps {
  db: Db;
  redis: Redis;
  stripe: Stripe;
  config: Env;
  clock: Clock;
  logger: Logger;
  /** The job system, for work that runs after a commit (BullMQ in the API and the worker). */
  jobs: JobDispatcher;
}
