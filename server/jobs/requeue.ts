import type { Db } from '../db/types.js';
import { reopenFailedOutbox, type OutboxRow } from '../services/outbox.js';
import { enqueueOutboxRows } from './dispatcher.js';
import { OUTBOX_JOBS, outboxJobId, type Queues } from './queues.js';

/**
 * An operator's second chance for an outbox row that failed for good: the row is pending again and a
 * fresh BullMQ job `outbox-<id>` with a full set of attempts replaces the failed one (kept until now
 * for inspection; BullMQ would refuse a new job under its id). Null when no failed row has that id.
 */
export async function requeueFailedOutbox(db: Db, queues: Queues, outboxId: number): Promise<OutboxRow | null> {
  const row = await reopenFailedOutbox(db, outboxId);
  if (!row) return null;
  const spec = OUTBOX_JOBS[row.topic as keyof typeof OUTBOX_JOBS];
  if (spec) await (await queues[spec.queue].getJob(outboxJobId(row.id)))?.remove();
  await enqueueOutboxRows(db, queues, [row]);
  return row;
}
