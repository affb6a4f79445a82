import { and, count, eq, gt, or, sql } from 'drizzle-orm';
import type { Tx } from '../db/types.js';
import type { Env } from '../env.js';
import { bookings, users } from '../db/schema/index.js';
import { prepared } from '../db/prepared.js';
import { AppError } from '../lib/errors.js';

/**
 * How much one account may hold without paying: MAX_UNPAID_BOOKINGS_PER_USER bookings and
 * MAX_UNPAID_SEATS_PER_USER seats in pending_payment. Without a cap one account (or one tRPC batch of
 * hundreds of bookings.create) can take whole flights off sale for the length of a hold.
 */
export type HoldCaps = Pick<Env, 'MAX_UNPAID_BOOKINGS_PER_USER' | 'MAX_UNPAID_SEATS_PER_USER'>;

// Prepared once per connection (db/prepared.ts): both run in every booking's transaction.
const lockUser = prepared((db) => db.select({ id: users.id }).from(users).where(eq(users.id, sql.placeholder('userId'))).for('update').prepare());
const unpaidHolds = prepared((db) =>
  db
    .select({ bookings: count(), seats: sql<string>`COALESCE(SUM(${bookings.seatsHeld}), 0)` })
    .from(bookings)
    .where(
      and(
        eq(bookings.userId, sql.placeholder('userId')),
        eq(bookings.status, 'pending_payment'),
        gt(bookings.seatsHeld, 0),
        or(gt(bookings.holdExpiresAt, sql.placeholder('now')), eq(bookings.paymentStatus, 'processing')),
      ),
    )
    .prepare(),
);

/**
 * Refuses a new hold of `seats` that would take the user over a cap. Runs inside the booking's
 * transaction and starts by locking the user's row, so one user's concurrent creates are counted one
 * after another and cannot all slip past the cap together. Called after the flight's seats were taken
 * (the flight's lock before the user's, the order a payment's ledger insert takes them in too). Holds that lapsed but were not swept yet
 * do not count; a delayed payment under way does (its seats stay held).
 */
export async function assertHoldCapacity(tx: Tx, caps: HoldCaps, userId: number, seats: number, now: Date): Promise<void> {
  await lockUser(tx).execute({ userId });
  const [held] = await unpaidHolds(tx).execute({ userId, now });
  const heldBookings = held?.bookings ?? 0;
  const heldSeats = Number(held?.seats ?? 0);
  if (heldBookings + 1 > caps.MAX_UNPAID_BOOKINGS_PER_USER || heldSeats + seats > caps.MAX_UNPAID_SEATS_PER_USER) {
    throw new AppError(
      'TOO_MANY_HOLDS',
      `Too many unpaid bookings: at most ${caps.MAX_UNPAID_BOOKINGS_PER_USER} bookings and ${caps.MAX_UNPAID_SEATS_PER_USER} seats may wait for payment at once; pay for or cancel one first`,
      { unpaidBookings: heldBookings, unpaidSeats: heldSeats, maxUnpaidBookings: caps.MAX_UNPAID_BOOKINGS_PER_USER, maxUnpaidSeats: caps.MAX_UNPAID_SEATS_PER_USER },
    );
  }
}
