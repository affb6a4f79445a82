import { and, desc, eq, inArray, lt, ne, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/types.js';
import { prepared } from '../db/prepared.js';
import type { Deps } from '../deps.js';
import { bookingPassengers, bookings, flights, type BookingStatus, type PaymentStatus } from '../db/schema/index.js';
import { AppError } from '../lib/errors.js';
import { addMinutes } from '../lib/time.js';
import { assertBookable } from './cutoffs.js';
import { idempotentTransaction } from './idempotency.js';
import { lockBooking, recordCreation, transition } from './booking-state.js';
import { releaseBookingSeats, takeSeats } from './inventory.js';
import { assertHoldCapacity } from './hold-caps.js';
import { enqueueOutbox } from './outbox.js';
import { withSearchInvalidation } from './search-cache.js';
import { actorName, assertOwnerOrAdmin, type Actor } from './access-control.js';
import { logger } from '../lib/logger.js';

export interface PassengerInput {
  firstName: string;
  lastName: string;
}

export interface BookingView {
  id: number;
  status: BookingStatus;
  paymentStatus: PaymentStatus;
  flightId: number;
  passengers: PassengerInput[];
  passengerCount: number;
  totalMinor: number;
  currency: string;
  /** While unpaid: when the seats are released if no payment arrives. */
  holdExpiresAt: string | null;
  createdAt: string;
}

type BookingRow = typeof bookings.$inferSelect;

/** Bookings touch Stripe only through the outbox (expiring a session after a cancel or a lapse), handed to the job system. */
export type BookingDeps = Pick<Deps, 'db' | 'redis' | 'config' | 'clock' | 'jobs'>;

function toView(row: BookingRow, passengers: PassengerInput[]): BookingView {
  return {
    id: row.id,
    status: row.status,
    paymentStatus: row.paymentStatus,
    flightId: row.flightId,
    passengers,
    passengerCount: row.passengerCount,
    totalMinor: row.totalMinor,
    currency: row.currency,
    holdExpiresAt: row.holdExpiresAt ? row.holdExpiresAt.toISOString() : null,
    createdAt: row.createdAt.toISOString(),
  };
}

async function passengersOf(db: DbOrTx, bookingIds: number[]): Promise<Map<number, PassengerInput[]>> {
  const map = new Map<number, PassengerInput[]>();
  if (!bookingIds.length) return map;
  const rows = await db
    .select()
    .from(bookingPassengers)
    .where(inArray(bookingPassengers.bookingId, bookingIds))
    .orderBy(bookingPassengers.bookingId, bookingPassengers.position);
  for (const r of rows) {
    const list = map.get(r.bookingId) ?? [];
    list.push({ firstName: r.firstName, lastName: r.lastName });
    map.set(r.bookingId, list);
  }
  return map;
}

export async function bookingView(db: DbOrTx, row: BookingRow): Promise<BookingView> {
  return toView(row, (await passengersOf(db, [row.id])).get(row.id) ?? []);
}

/** Loads a booking the actor may see; NOT_FOUND otherwise (whether or not it exists). */
export async function loadBookingFor(db: DbOrTx, actor: Actor, id: number, opts: { forUpdate?: boolean } = {}): Promise<BookingRow> {
  const notFound = `Booking ${id} not found`;
  // Ownership first, from a plain read: nobody may lock another traveller's booking (and its flight).
  const [seen] = await db.select().from(bookings).where(eq(bookings.id, id));
  if (!seen) throw new AppError('NOT_FOUND', notFound);
  await assertOwnerOrAdmin(db, actor, seen.userId, notFound);
  if (!opts.forUpdate) return seen;
  const row = await lockBooking(db, id);
  if (!row) throw new AppError('NOT_FOUND', notFound);
  return row;
}

// The statements of a booking's transaction are prepared once per connection (db/prepared.ts):
// building them again on every booking was about a tenth of its CPU. The passengers' INSERT varies in
// length and is cheap to build.

/** Only what a booking needs: a wide select costs drizzle a mapping per column, on every booking. */
const flightToBook = prepared((db) =>
  db
    .select({
      id: flights.id,
      flightNumber: flights.flightNumber,
      origin: flights.origin,
      destination: flights.destination,
      departureAt: flights.departureAt,
      priceMinor: flights.priceMinor,
      currency: flights.currency,
    })
    .from(flights)
    .where(eq(flights.id, sql.placeholder('id')))
    .prepare(),
);

const insertBooking = prepared((db) =>
  db
    .insert(bookings)
    .values({
      userId: sql.placeholder('userId'),
      flightId: sql.placeholder('flightId'),
      passengerCount: sql.placeholder('passengerCount'),
      totalMinor: sql.placeholder('totalMinor'),
      currency: sql.placeholder('currency'),
      status: 'pending_payment',
      paymentStatus: 'unpaid',
      seatsHeld: sql.placeholder('seatsHeld'),
      holdExpiresAt: sql.placeholder('holdExpiresAt'),
      createdAt: sql.placeholder('createdAt'),
    })
    .prepare(),
);

export interface CreateBookingInput {
  flightId: number;
  passengers: PassengerInput[];
  idempotencyKey: string;
}

/**
 * Holds seats and creates a pending_payment booking, exactly once per idempotency key. Seats are taken
 * by one conditional UPDATE, so concurrent bookings can never oversell a flight.
 */
export async function createBooking(deps: Pick<Deps, 'db' | 'redis' | 'config' | 'clock'>, actor: Actor, input: CreateBookingInput): Promise<BookingView> {
  const { idempotencyKey, ...payload } = input;
  const now = deps.clock.now();
  const { response } = await withSearchInvalidation(deps, () => idempotentTransaction(
    deps,
    { scope: 'bookings.create', principal: actorName(actor), key: idempotencyKey, input: payload },
    async (tx) => {
      const [flight] = await flightToBook(tx).execute({ id: input.flightId });
      if (!flight) throw new AppError('NOT_FOUND', `Flight ${input.flightId} not found`);
      const salesClose = assertBookable(flight, now, deps.config.SALES_CUTOFF_MINUTES);
      const count = input.passengers.length;
      // Never held past the close of sales: nobody could pay for the seats after it.
      const holdExpiresAt = minDate(addMinutes(now, deps.config.BOOKING_HOLD_MINUTES), salesClose);
      // Seats first, then the cap: every transaction that locks both (a payment's ledger entry checks
      // its user key) takes the flight before the user, so they cannot deadlock on each other.
      await takeSeats(tx, flight.id, count, flight);
      await assertHoldCapacity(tx, deps.config, actor.userId, count, now);
      const [ins] = await insertBooking(tx).execute({
        userId: actor.userId,
        flightId: flight.id,
        passengerCount: count,
        totalMinor: flight.priceMinor * count,
        currency: flight.currency,
        seatsHeld: count,
        holdExpiresAt,
        createdAt: now,
      });
      await tx.insert(bookingPassengers).values(input.passengers.map((p, position) => ({ bookingId: ins.insertId, position, ...p })));
      await recordCreation(tx, ins.insertId, actorName(actor));
      // Built from what was just written rather than read back: one round trip less per booking.
      return {
        id: ins.insertId,
        status: 'pending_payment',
        paymentStatus: 'unpaid',
        flightId: flight.id,
        passengers: input.passengers.map((p) => ({ firstName: p.firstName, lastName: p.lastName })),
        passengerCount: count,
        totalMinor: flight.priceMinor * count,
        currency: flight.currency,
        holdExpiresAt: holdExpiresAt.toISOString(),
        createdAt: now.toISOString(),
      } satisfies BookingView;
    },
  ));
  return response;
}

const minDate = (a: Date, b: Date) => (a <= b ? a : b);

export async function getBooking({ db }: Pick<Deps, 'db'>, actor: Actor, input: { id: number }): Promise<BookingView> {
  return bookingView(db, await loadBookingFor(db, actor, input.id));
}

/** The caller's bookings, newest first; `nextCursor` is null on the last page. */
export async function listBookings({ db }: Pick<Deps, 'db'>, actor: Actor, opts: { cursor?: number; limit: number }) {
  const rows = await db
    .select()
    .from(bookings)
    .where(and(eq(bookings.userId, actor.userId), opts.cursor ? lt(bookings.id, opts.cursor) : undefined))
    .orderBy(desc(bookings.id))
    .limit(opts.limit + 1);
  const page = rows.slice(0, opts.limit);
  const passengers = await passengersOf(db, page.map((r) => r.id));
  return {
    items: page.map((r) => toView(r, passengers.get(r.id) ?? [])),
    nextCursor: rows.length > opts.limit ? page[page.length - 1]!.id : null,
  };
}

/**
 * pending_payment -> cancelled: seats back on sale at once, and the open Checkout Session is expired at
 * Stripe by the worker right after the commit (recorded in the outbox first, so a failed call is retried).
 */
export async function cancelBooking(deps: BookingDeps, actor: Actor, input: { id: number; idempotencyKey: string }): Promise<BookingView> {
  let expireJob: number | null = null;
  const { response } = await withSearchInvalidation(deps, () => idempotentTransaction(
    deps,
    { scope: 'bookings.cancel', principal: actorName(actor), key: input.idempotencyKey, input: { id: input.id } },
    async (tx) => {
      expireJob = null; // a run again after a deadlock starts from nothing
      const row = await loadBookingFor(tx, actor, input.id, { forUpdate: true });
      if (row.status === 'pending_payment' && row.paymentStatus === 'processing') {
        // A delayed payment (bank debit) is under way: cancelling now would take money for nothing.
        throw new AppError('CONFLICT', 'A payment for this booking is being processed; wait for its outcome, then cancel or request a refund');
      }
      await transition(tx, {
        bookingId: row.id,
        from: row.status,
        to: 'cancelled',
        reason: 'cancelled by traveller',
        actor: actorName(actor),
        set: { holdExpiresAt: null },
        hint: row.status === 'confirmed' ? 'a paid booking is cancelled by requesting a refund (payments.requestRefund)' : undefined,
      });
      await releaseBookingSeats(tx, row);
      if (row.stripeCheckoutSessionId) {
        expireJob = await enqueueOutbox(tx, 'stripe_expire_session', row.stripeCheckoutSessionId, { bookingId: row.id, sessionId: row.stripeCheckoutSessionId }, deps.clock.now());
      }
      const [updated] = await tx.select().from(bookings).where(eq(bookings.id, row.id));
      return bookingView(tx, updated!);
    },
  ));
  // After the commit: the worker expires the session at Stripe, never while the booking is locked.
  if (expireJob) await deps.jobs.outboxCommitted([expireJob]);
  return response;
}

/**
 * Expires unpaid bookings whose seat hold has lapsed: pending_payment -> expired, seats back on sale,
 * and the Checkout Session expired at Stripe (through the outbox) so it cannot be paid afterwards. A
 * payment that still slips through is handled as a late payment by the webhook. Small batches, one
 * short transaction per booking; the worker runs this on a schedule. Returns the bookings expired.
 */
export async function expireLapsedHolds(deps: BookingDeps, opts: { limit?: number } = {}): Promise<number[]> {
  const now = deps.clock.now();
  const due = await deps.db
    .select({ id: bookings.id })
    .from(bookings)
    // A delayed payment under way keeps its seats until Stripe says how it ended (the reconciliation
    // asks Stripe about one whose outcome never arrives). Left out here, not skipped after the scan:
    // a hundred of them at the head of the queue would otherwise starve every other lapsed hold.
    .where(and(eq(bookings.status, 'pending_payment'), lt(bookings.holdExpiresAt, now), ne(bookings.paymentStatus, 'processing')))
    .orderBy(bookings.holdExpiresAt)
    .limit(opts.limit ?? 100);
  const expired: number[] = [];
  for (const { id } of due) {
    try {
      const result = await withSearchInvalidation(deps, () => deps.db.transaction(async (tx) => {
        const row = await lockBooking(tx, id);
        // Re-checked under the lock: a payment may have confirmed it since the scan.
        if (!row || row.status !== 'pending_payment' || !row.holdExpiresAt || row.holdExpiresAt >= now) return null;
        // A delayed payment under way keeps its seats until Stripe says how it ended.
        if (row.paymentStatus === 'processing') return null;
        await transition(tx, { bookingId: id, from: 'pending_payment', to: 'expired', reason: 'seat hold lapsed', actor: 'system:hold-expiry', set: { holdExpiresAt: null } });
        await releaseBookingSeats(tx, row);
        const jobId = row.stripeCheckoutSessionId
          ? await enqueueOutbox(tx, 'stripe_expire_session', row.stripeCheckoutSessionId, { bookingId: id, sessionId: row.stripeCheckoutSessionId }, now)
          : null;
        return { jobId };
      }));
      if (!result) continue;
      expired.push(id);
      logger.info({ bookingId: id }, 'seat hold lapsed; booking expired');
      if (result.jobId) await deps.jobs.outboxCommitted([result.jobId]);
    } catch (err) {
      // One booking's failure (a lock timeout) must not stop the batch; the next run retries it.
      logger.warn({ err, bookingId: id }, 'could not expire a lapsed hold; will retry');
    }
  }
  return expired;
}
