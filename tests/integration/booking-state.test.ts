import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { createTestDatabase } from '../support/harness.js';
import { createUser } from '../support/users.js';
import { createFlight } from '../support/flights.js';
import type { Db } from '../../server/db/types.js';
import { bookings, bookingTransitions, type BookingStatus } from '../../server/db/schema/index.js';
import { AppError } from '../../server/lib/errors.js';
import { transition } from '../../server/services/booking-state.js';
import { ALLOWED_PAIRS, REFUSED_PAIRS, STATUSES, allowed } from '../support/booking-transitions.js';
import { inventoryViolations } from '../../server/services/inventory.js';

let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
let db: Db;
let userId: number;
let flightId: number;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = testDb.database.db;
  userId = (await createUser(db)).id;
  flightId = await createFlight(db, { seats: 50 });
});
afterAll(() => testDb.drop());

/** A booking row put straight into `status` (holding no seats, so the flight's counts stay whole). */
async function bookingIn(status: BookingStatus): Promise<number> {
  const [res] = await db.insert(bookings).values({
    userId,
    flightId,
    passengerCount: 1,
    totalMinor: 45_000,
    currency: 'SAR',
    status,
    paymentStatus: 'unpaid',
    seatsHeld: 0,
  });
  return res.insertId;
}

async function rowOf(bookingId: number) {
  const [row] = await db.select().from(bookings).where(eq(bookings.id, bookingId));
  return row!;
}

const transitionsOf = (bookingId: number) => db.select().from(bookingTransitions).where(eq(bookingTransitions.bookingId, bookingId));

/** Runs `fn` and returns what it threw (failing the test if it did not throw). */
async function thrownBy(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure, the call succeeded');
}

/** Every message on an error's cause chain (drizzle wraps the driver's error). */
function messages(err: unknown): string {
  const out: string[] = [];
  for (let cur = err as { message?: string; cause?: unknown } | undefined, i = 0; cur && i < 5; cur = cur.cause as typeof cur, i++) {
    if (cur.message) out.push(cur.message);
  }
  return out.join(' | ');
}

describe('transition() against the database', () => {
  it.each(ALLOWED_PAIRS)('moves a booking from %s to %s and writes exactly one audit row', async (from, to) => {
    const id = await bookingIn(from);
    await db.transaction((tx) => transition(tx, { bookingId: id, from, to, reason: `test ${from} to ${to}`, actor: 'system:test' }));
    expect((await rowOf(id)).status).toBe(to);
    const audit = await transitionsOf(id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ fromStatus: from, toStatus: to, reason: `test ${from} to ${to}`, actor: 'system:test' });
  });

  it.each(REFUSED_PAIRS)('refuses %s -> %s with INVALID_STATE_TRANSITION naming both states, changing nothing', async (from, to) => {
    const id = await bookingIn(from);
    const before = await rowOf(id);
    const err = await thrownBy(() =>
      db.transaction((tx) => transition(tx, { bookingId: id, from, to, reason: 'should not happen', actor: 'system:test', set: { needsAttention: true } })),
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('INVALID_STATE_TRANSITION');
    expect((err as AppError).message).toContain(from);
    expect((err as AppError).message).toContain(to);
    expect((err as AppError).message).toContain(`from ${from} to ${to}`);
    expect(await rowOf(id)).toEqual(before);
    expect(await transitionsOf(id)).toEqual([]);
  });

  it('writes the extra columns of `set` in the same UPDATE as the status', async () => {
    const id = await bookingIn('pending_payment');
    await db.transaction((tx) =>
      transition(tx, {
        bookingId: id,
        from: 'pending_payment',
        to: 'confirmed',
        reason: 'paid',
        actor: 'stripe:evt_test',
        set: { paymentStatus: 'paid', stripePaymentIntentId: `pi_state_${id}`, holdExpiresAt: null },
      }),
    );
    expect(await rowOf(id)).toMatchObject({ status: 'confirmed', paymentStatus: 'paid', stripePaymentIntentId: `pi_state_${id}`, holdExpiresAt: null });
  });

  it('refuses a stale `from` (the row is really in another status) and changes nothing', async () => {
    let cases = 0;
    for (const actual of STATUSES) {
      for (const [staleFrom, to] of ALLOWED_PAIRS) {
        if (staleFrom === actual) continue;
        cases++;
        const id = await bookingIn(actual);
        const before = await rowOf(id);
        const err = await thrownBy(() =>
          db.transaction((tx) => transition(tx, { bookingId: id, from: staleFrom, to, reason: 'stale', actor: 'system:test', set: { needsAttention: true } })),
        );
        expect(err).toBeInstanceOf(AppError);
        // From where the booking really is: a move that is still allowed is a retryable conflict, any
        // other is refused as a transition naming the real state.
        if (allowed(actual, to)) {
          expect((err as AppError).code, `${actual} (stale ${staleFrom}) -> ${to}`).toBe('CONFLICT');
        } else {
          expect((err as AppError).code, `${actual} (stale ${staleFrom}) -> ${to}`).toBe('INVALID_STATE_TRANSITION');
          expect((err as AppError).message).toContain(`from ${actual} to ${to}`);
        }
        expect(await rowOf(id)).toEqual(before);
        expect(await transitionsOf(id)).toEqual([]);
      }
    }
    expect(cases).toBeGreaterThan(50);
  });

  it('refuses a transition of a booking that does not exist with NOT_FOUND', async () => {
    const err = await thrownBy(() =>
      db.transaction((tx) => transition(tx, { bookingId: 987_654_321, from: 'pending_payment', to: 'cancelled', reason: 'x', actor: 'system:test' })),
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('NOT_FOUND');
  });

  it('lets exactly one of 10 concurrent pending_payment -> cancelled transactions win, writing one audit row', async () => {
    const id = await bookingIn('pending_payment');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        db.transaction((tx) => transition(tx, { bookingId: id, from: 'pending_payment', to: 'cancelled', reason: `racer ${i}`, actor: `user:${userId}` })),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x): x is PromiseRejectedResult => x.status === 'rejected')) {
      expect(r.reason).toBeInstanceOf(AppError);
      expect(r.reason.code).toBe('INVALID_STATE_TRANSITION');
      expect(r.reason.message).toContain('from cancelled to cancelled');
    }
    expect((await rowOf(id)).status).toBe('cancelled');
    const audit = await transitionsOf(id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ fromStatus: 'pending_payment', toStatus: 'cancelled' });
  });

  it('rolls the status change back with the transaction that made it', async () => {
    const id = await bookingIn('pending_payment');
    await thrownBy(() =>
      db.transaction(async (tx) => {
        await transition(tx, { bookingId: id, from: 'pending_payment', to: 'failed', reason: 'declined', actor: 'stripe:evt_x' });
        throw new Error('caller failed after the transition');
      }),
    );
    expect((await rowOf(id)).status).toBe('pending_payment');
    expect(await transitionsOf(id)).toEqual([]);
  });

  it('has the database refuse UPDATE and keep the audit row as written', async () => {
    const id = await bookingIn('pending_payment');
    await db.transaction((tx) => transition(tx, { bookingId: id, from: 'pending_payment', to: 'expired', reason: 'hold lapsed', actor: 'system:hold-expiry' }));
    const [row] = await transitionsOf(id);
    const err = await thrownBy(() => db.update(bookingTransitions).set({ reason: 'rewritten history' }).where(eq(bookingTransitions.id, row!.id)));
    expect(messages(err)).toMatch(/append-only/);
    expect(await transitionsOf(id)).toEqual([row]);
  });

  it('never touches the flight’s seat counts', async () => {
    expect(await inventoryViolations(db, [flightId])).toEqual([]);
  });
});
