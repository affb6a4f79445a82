import { and, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/types.js';
import { bookings, bookingTransitions, flights, type BookingStatus } from '../db/schema/index.js';
import { AppError } from '../lib/errors.js';
import { metrics } from '../lib/metrics.js';
import { afterCommit } from '../db/after-commit.js';
import { prepared } from '../db/prepared.js';

/**
 * The booking state machine: the ONE table of allowed moves, and the only code that changes a
 * booking's status. Each move is a compare-and-set on the current status inside the caller's
 * transaction and writes an audit row to booking_transitions.
 */
export const TRANSITIONS: Readonly<Record<BookingStatus, readonly BookingStatus[]>> = {
  pending_payment: ['confirmed', 'failed', 'expired', 'cancelled'],
  // -> refunded directly: a full refund made in Stripe's dashboard, not requested through us.
  confirmed: ['refund_pending', 'refunded'],
  // A refund that Stripe reports failed keeps the booking in refund_pending (flagged, retried).
  refund_pending: ['refunded'],
  // A payment arriving after the booking closed: confirmed if its seats can be taken again,
  // otherwise refunded. Money for a booking we cannot honour is never kept and never lost.
  failed: ['confirmed', 'refund_pending'],
  expired: ['confirmed', 'refund_pending'],
  cancelled: ['confirmed', 'refund_pending'],
  refunded: [],
};

export function canTransition(from: BookingStatus, to: BookingStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The one wording of a refused move, also for callers narrower than the table (see requestRefund). */
export function invalidTransition(from: BookingStatus, to: BookingStatus, hint?: string): AppError {
  return new AppError('INVALID_STATE_TRANSITION', `A booking cannot go from ${from} to ${to}${hint ? `: ${hint}` : ''}`, { from, to });
}

export function assertTransition(from: BookingStatus, to: BookingStatus, hint?: string): void {
  if (!canTransition(from, to)) throw invalidTransition(from, to, hint);
}

export interface TransitionInput {
  bookingId: number;
  from: BookingStatus;
  to: BookingStatus;
  reason: string;
  /** `user:42`, `stripe:evt_...`, `system:hold-expiry`. */
  actor: string;
  /** Other booking columns to change in the same UPDATE (never `status`). */
  set?: Omit<Partial<typeof bookings.$inferInsert>, 'status' | 'id'>;
  hint?: string;
}

export async function transition(tx: DbOrTx, input: TransitionInput): Promise<void> {
  assertTransition(input.from, input.to, input.hint);
  const [res] = await tx
    .update(bookings)
    .set({ ...input.set, status: input.to })
    .where(and(eq(bookings.id, input.bookingId), eq(bookings.status, input.from)));
  if (res.affectedRows !== 1) {
    const [row] = await tx.select({ status: bookings.status }).from(bookings).where(eq(bookings.id, input.bookingId));
    if (!row) throw new AppError('NOT_FOUND', `Booking ${input.bookingId} not found`);
    // Someone moved it first: report the move from where it really is.
    assertTransition(row.status, input.to, input.hint);
    throw new AppError('CONFLICT', `Booking ${input.bookingId} changed concurrently (now ${row.status}); retry`);
  }
  await tx.insert(bookingTransitions).values({
    bookingId: input.bookingId,
    fromStatus: input.from,
    toStatus: input.to,
    reason: input.reason.slice(0, 255),
    actor: input.actor.slice(0, 128),
  });
  afterCommit(tx, () => metrics.bookingTransition(input.from, input.to));
}

/** Prepared once per connection (db/prepared.ts): it runs in every booking's transaction. */
const creationRecorded = prepared((db) =>
  db
    .insert(bookingTransitions)
    .values({ bookingId: sql.placeholder('bookingId'), fromStatus: null, toStatus: 'pending_payment', reason: 'booking created', actor: sql.placeholder('actor') })
    .prepare(),
);

/** The audit row for a booking's creation (there is no "from"). */
export async function recordCreation(tx: DbOrTx, bookingId: number, actor: string): Promise<void> {
  await creationRecorded(tx).execute({ bookingId, actor });
  afterCommit(tx, () => metrics.bookingCreated());
}

/**
 * SELECT ... FOR UPDATE on the booking, then on its flight: the caller's transaction owns both until it
 * commits. Always booking first, then flight. Taking the flight's X lock up front matters: bookings'
 * foreign key to flights is served by idx_bookings_flight_status, which contains `status`, so changing
 * a booking's status makes InnoDB re-check that key under a shared lock on the flight; two transactions
 * each holding that S lock and then asking for X to move seats deadlocked (seen in tests).
 */
export async function lockBooking(tx: DbOrTx, bookingId: number) {
  const [row] = await tx.select().from(bookings).where(eq(bookings.id, bookingId)).for('update');
  if (row) await tx.select({ id: flights.id }).from(flights).where(eq(flights.id, row.flightId)).for('update');
  return row;
}
