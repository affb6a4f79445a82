/**
 * What services ask of the job system after a commit. Services own this interface; the worker's BullMQ
 * side implements it (jobs/dispatcher.ts) and the composition roots hand it down as `deps.jobs`, so no
 * service imports from server/jobs/.
 *
 * Neither method throws: the commit has happened, and whatever could not be handed over now is found
 * later (outbox rows never enqueued by the relay's sweep, unprocessed Stripe events by Stripe's own
 * redelivery and the reconciliation).
 */
export interface JobDispatcher {
  /** Hands outbox rows just committed to their queues (BullMQ job `outbox-<id>`). */
  outboxCommitted(outboxIds: readonly number[]): Promise<void>;
  /** A verified Stripe event failed with an error a retry may cure: re-drive it from its stored payload. */
  stripeEventFailed(eventId: string): Promise<void>;
}
