import { AsyncLocalStorage } from 'node:async_hooks';
import { and, eq, gte, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/types.js';
import { bookings, flights } from '../db/schema/index.js';
import { prepared } from '../db/prepared.js';
import { AppError } from '../lib/errors.js';

/**
 * Seat inventory. `flights.seats_available` changes only here, by conditional UPDATEs, and every
 * booking records in `seats_held` exactly what it took, so for every flight:
 *   seats_available + SUM(bookings.seats_held) = seats_total
 * and a CHECK constraint keeps seats_available within [0, seats_total].
 */

/** What a search is keyed by; given when the caller has it at hand, looked up after the commit otherwise. */
export interface FlightRoute {
  origin: string;
  destination: string;
  departureAt: Date;
}

const seatChanges = new AsyncLocalStorage<Map<number, FlightRoute | null>>();

function noteSeatChange(flightId: number, route?: FlightRoute): void {
  const changed = seatChanges.getStore();
  if (changed && !changed.get(flightId)) changed.set(flightId, route ?? null);
}

/**
 * Runs `work` (which commits its transaction before it returns) and reports the flights whose seats it
 * changed through this file, so the caller can invalidate what depends on them after the commit
 * (search-cache.ts, withSearchInvalidation). A rolled-back change reported here costs a needless refresh.
 */
export async function trackSeatChanges<T>(work: () => Promise<T>): Promise<{ result: T; changed: Map<number, FlightRoute | null> }> {
  const changed = new Map<number, FlightRoute | null>();
  const result = await seatChanges.run(changed, work);
  return { result, changed };
}

/** Prepared once per connection (db/prepared.ts): it runs in every booking's transaction. */
const seatsTaken = prepared((db) =>
  db
    .update(flights)
    .set({ seatsAvailable: sql`${flights.seatsAvailable} - ${sql.placeholder('seats')}` })
    .where(and(eq(flights.id, sql.placeholder('flightId')), gte(flights.seatsAvailable, sql.placeholder('seats'))))
    .prepare(),
);

/** Takes `seats` from the flight or throws SOLD_OUT; never oversells, whatever the concurrency. */
export async function takeSeats(tx: DbOrTx, flightId: number, seats: number, route?: FlightRoute): Promise<void> {
  const [res] = await seatsTaken(tx).execute({ flightId, seats });
  if (res.affectedRows !== 1) {
    const [flight] = await tx.select({ seatsAvailable: flights.seatsAvailable }).from(flights).where(eq(flights.id, flightId));
    if (!flight) throw new AppError('NOT_FOUND', `Flight ${flightId} not found`);
    throw new AppError('SOLD_OUT', `Only ${flight.seatsAvailable} seat(s) left on this flight`, { seatsAvailable: flight.seatsAvailable });
  }
  noteSeatChange(flightId, route);
}

/**
 * Gives back the seats a booking holds, exactly once whatever the path: the booking's seats_held is
 * zeroed by a conditional UPDATE, and only the caller that zeroed it returns the seats.
 */
export async function releaseBookingSeats(tx: DbOrTx, booking: { id: number; flightId: number }): Promise<number> {
  const [row] = await tx.select({ seatsHeld: bookings.seatsHeld }).from(bookings).where(eq(bookings.id, booking.id));
  const held = row?.seatsHeld ?? 0;
  if (held === 0) return 0;
  const [res] = await tx
    .update(bookings)
    .set({ seatsHeld: 0 })
    .where(and(eq(bookings.id, booking.id), eq(bookings.seatsHeld, held)));
  if (res.affectedRows !== 1) return 0;
  noteSeatChange(booking.flightId);
  await tx
    .update(flights)
    .set({ seatsAvailable: sql`${flights.seatsAvailable} + ${held}` })
    .where(eq(flights.id, booking.flightId));
  return held;
}

/** For a late payment on a closed booking: take its seats again. False when the flight is full. */
export async function retakeBookingSeats(tx: DbOrTx, booking: { id: number; flightId: number; passengerCount: number }): Promise<boolean> {
  const [row] = await tx.select({ seatsHeld: bookings.seatsHeld }).from(bookings).where(eq(bookings.id, booking.id));
  if ((row?.seatsHeld ?? 0) > 0) return true;
  try {
    await takeSeats(tx, booking.flightId, booking.passengerCount);
  } catch (err) {
    if (err instanceof AppError && err.code === 'SOLD_OUT') return false;
    throw err;
  }
  await tx.update(bookings).set({ seatsHeld: booking.passengerCount }).where(eq(bookings.id, booking.id));
  return true;
}

/** Flights whose counts break the invariant (empty when all is well). For tests and reconciliation. */
export async function inventoryViolations(tx: DbOrTx, flightIds?: number[]) {
  const rows = await tx
    .select({
      flightId: flights.id,
      seatsTotal: flights.seatsTotal,
      seatsAvailable: flights.seatsAvailable,
      // Spelled out: inside a subquery drizzle would render the outer column unqualified.
      held: sql<number>`COALESCE((SELECT SUM(b.seats_held) FROM bookings b WHERE b.flight_id = flights.id), 0)`,
    })
    .from(flights)
    .where(flightIds?.length ? sql`${flights.id} IN (${sql.join(flightIds.map((id) => sql`${id}`), sql`, `)})` : undefined);
  return rows
    .map((r) => ({ ...r, held: Number(r.held) }))
    .filter((r) => r.seatsAvailable < 0 || r.seatsAvailable > r.seatsTotal || r.seatsAvailable + r.held !== r.seatsTotal);
}
