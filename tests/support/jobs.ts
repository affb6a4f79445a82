import { eq } from 'drizzle-orm';
import type { Queue } from 'bullmq';
import { outbox } from '../../server/db/schema/index.js';
import { outboxJobId } from '../../server/jobs/queues.js';
import type { Db } from '../../server/db/types.js';
import { eventually } from './e2e.js';

type OutboxRow = typeof outbox.$inferSelect;

/** The outbox row with this dedupe key, once `check` holds for it (its job runs in a worker). */
export function outboxRowWhen(db: Db, dedupeKey: string, check: (row: OutboxRow) => boolean, timeoutMs = 15_000): Promise<OutboxRow> {
  return eventually(async () => {
    const [row] = await db.select().from(outbox).where(eq(outbox.dedupeKey, dedupeKey));
    return row && check(row) ? row : null;
  }, timeoutMs);
}

/** As if a failed job's back-off had passed: its delayed BullMQ job runs now. */
export async function skipBackOff(queue: Queue, jobId: string): Promise<void> {
  const job = await eventually(async () => {
    const j = await queue.getJob(jobId);
    return j && (await j.isDelayed()) ? j : null;
  });
  await job.promote();
}

/** skipBackOff for outbox row `outboxId`. */
export const skipOutboxBackOff = (queue: Queue, outboxId: number) => skipBackOff(queue, outboxJobId(outboxId));

/** Waits until no outbox row of `bookingId` (of these topics, or any) is pending: its jobs have run. */
export async function outboxSettled(db: Db, bookingId: number, topics?: string[], timeoutMs = 15_000): Promise<OutboxRow[]> {
  return eventually(async () => {
    const rows = (await db.select().from(outbox)).filter(
      (r) => (r.payload as { bookingId?: number }).bookingId === bookingId && (!topics || topics.includes(r.topic)),
    );
    return rows.every((r) => r.status !== 'pending') ? rows : null;
  }, timeoutMs);
}
