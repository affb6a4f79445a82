import type { Deps } from '../deps.js';
import { expireLapsedHolds } from '../services/bookings.js';
import { deleteExpiredIdempotencyKeys } from '../services/idempotency.js';
import { relayOutbox } from './outbox-relay.js';
import type { Queues } from './queues.js';

/**
 * The maintenance queue's recurring jobs, each a BullMQ job scheduler (one tick runs once however
 * many worker processes run), and what each tick does.
 */
export const MAINTENANCE_SCHEDULE = {
  'outbox-relay': 5_000,
  'expire-holds': 60_000,
  'cleanup-idempotency': 60 * 60_000,
} as const;
export type MaintenanceJob = keyof typeof MAINTENANCE_SCHEDULE;

export async function runMaintenanceJob(deps: Deps, queues: Queues, name: string): Promise<unknown> {
  switch (name as MaintenanceJob) {
    case 'outbox-relay':
      return relayOutbox(deps, queues);
    case 'expire-holds':
      return { expired: (await expireLapsedHolds(deps)).length };
    case 'cleanup-idempotency':
      return { deleted: await deleteExpiredIdempotencyKeys(deps) };
    default:
      throw new Error(`unknown maintenance job ${name}`);
  }
}
