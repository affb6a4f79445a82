import { describe, expect, it } from 'vitest';
import { count, eq } from 'drizzle-orm';
import { createUser } from '../support/users.js';
import { createFlight, seatsAvailable } from '../support/flights.js';
import { trpcError } from '../support/trpc-errors.js';
import { newKey, passengers } from '../support/booking-flow.js';
import { bookingPassengers, bookings, bookingTransitions, idempotencyRequests } from '../../server/db/schema/index.js';
import { inventoryViolations } from '../../server/services/inventory.js';
import { useTestApp } from '../support/lifecycle.js';

const t = useTestApp();


describe('bookings.create', () => {
  it('holds the seats at once and returns a pending_payment booking', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10, priceMinor: 45_000 });
    const before = Date.now();
    const booking = await t.trpc(user.accessToken).bookings.create.mutate({
      flightId,
      passengers: [{ firstName: '  Noura ', lastName: 'Al-Harbi' }, { firstName: 'سارة', lastName: "O'Neil" }],
      idempotencyKey: newKey(),
    });
    expect(booking).toMatchObject({
      status: 'pending_payment',
      paymentStatus: 'unpaid',
      flightId,
      passengers: [{ firstName: 'Noura', lastName: 'Al-Harbi' }, { firstName: 'سارة', lastName: "O'Neil" }],
      totalMinor: 90_000,
      currency: 'SAR',
    });
    const hold = Date.parse(booking.holdExpiresAt!);
    expect(hold - before).toBeGreaterThanOrEqual(30 * 60_000 - 1000);
    expect(hold - before).toBeLessThanOrEqual(30 * 60_000 + 5000);
    expect(await seatsAvailable(t.db, flightId)).toBe(8);
    const transitions = await t.db.select().from(bookingTransitions).where(eq(bookingTransitions.bookingId, booking.id));
    expect(transitions).toMatchObject([{ fromStatus: null, toStatus: 'pending_payment', actor: `user:${user.id}` }]);
  });

  it.each([
    [{ passengers: [] }, /at least one passenger/],
    [{ passengers: passengers(10) }, /at most 9 passengers/],
    [{ passengers: [{ firstName: 'R2D2', lastName: 'Droid' }] }, /only letters/],
    [{ passengers: [{ firstName: '   ', lastName: 'Empty' }] }, /must not be empty/],
    [{ passengers: [{ firstName: 'A'.repeat(65), lastName: 'Long' }] }, /at most 64/],
    [{ idempotencyKey: 'short' }, /idempotencyKey must be 8 to 255 printable characters/],
    [{ idempotencyKey: 'bad\u0007key-123' }, /idempotencyKey must be 8 to 255 printable characters/],
    [{ flightId: -1 }, /flightId/],
  ])('refuses bad input %j with a validation error and changes nothing', async (override, message) => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 5 });
    const input = { flightId, passengers: passengers(1), idempotencyKey: newKey(), ...override };
    const err = await trpcError(t.trpc(user.accessToken).bookings.create.mutate(input));
    expect(err).toMatchObject({ code: 'BAD_REQUEST', appCode: 'VALIDATION' });
    expect(err.message).toMatch(message);
    expect(await seatsAvailable(t.db, flightId)).toBe(5);
    const [n] = await t.db.select({ n: count() }).from(bookings).where(eq(bookings.userId, user.id));
    expect(n!.n).toBe(0);
  });

  it('answers NOT_FOUND for an unknown flight and UNAUTHORIZED without a token', async () => {
    const user = await createUser(t.db);
    expect(await trpcError(t.trpc(user.accessToken).bookings.create.mutate({ flightId: 9_999_999, passengers: passengers(1), idempotencyKey: newKey() }))).toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await trpcError(t.trpc().bookings.create.mutate({ flightId: 1, passengers: passengers(1), idempotencyKey: newKey() }))).toMatchObject({
      code: 'UNAUTHORIZED',
    });
  });

  it('refuses more passengers than seats left with SOLD_OUT', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 2 });
    expect(await trpcError(t.trpc(user.accessToken).bookings.create.mutate({ flightId, passengers: passengers(3), idempotencyKey: newKey() }))).toMatchObject({
      code: 'CONFLICT',
      appCode: 'SOLD_OUT',
    });
    expect(await seatsAvailable(t.db, flightId)).toBe(2);
  });
});

describe('bookings.byId and bookings.list', () => {
  it("shows a booking to its owner and to an admin, and is NOT_FOUND for anyone else", async () => {
    const owner = await createUser(t.db);
    const stranger = await createUser(t.db);
    const admin = await createUser(t.db, { role: 'admin' });
    const demoted = await createUser(t.db, { role: 'traveller', tokenRole: 'admin' }); // token still says admin
    const flightId = await createFlight(t.db);
    const b = await t.trpc(owner.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() });
    expect((await t.trpc(owner.accessToken).bookings.byId.query({ id: b.id })).id).toBe(b.id);
    expect((await t.trpc(admin.accessToken).bookings.byId.query({ id: b.id })).id).toBe(b.id);
    expect(await trpcError(t.trpc(stranger.accessToken).bookings.byId.query({ id: b.id }))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await trpcError(t.trpc(demoted.accessToken).bookings.byId.query({ id: b.id }))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await trpcError(t.trpc(stranger.accessToken).bookings.cancel.mutate({ id: b.id, idempotencyKey: newKey() }))).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('lists the caller’s bookings newest first, page by page', async () => {
    const user = await createUser(t.db);
    const other = await createUser(t.db);
    const flightId = await createFlight(t.db);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { id } = await t.trpc(user.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() });
      // Cancelled as it goes: more than 3 unpaid bookings at once is over the hold cap.
      if (i < 3) await t.trpc(user.accessToken).bookings.cancel.mutate({ id, idempotencyKey: newKey() });
      ids.push(id);
    }
    await t.trpc(other.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() });
    const page1 = await t.trpc(user.accessToken).bookings.list.query({ limit: 2 });
    expect(page1.items.map((b) => b.id)).toEqual([ids[4], ids[3]]);
    const page2 = await t.trpc(user.accessToken).bookings.list.query({ limit: 2, cursor: page1.nextCursor! });
    expect(page2.items.map((b) => b.id)).toEqual([ids[2], ids[1]]);
    const page3 = await t.trpc(user.accessToken).bookings.list.query({ limit: 2, cursor: page2.nextCursor! });
    expect(page3.items.map((b) => b.id)).toEqual([ids[0]]);
    expect(page3.nextCursor).toBeNull();
    expect(page1.items[0]!.passengers).toHaveLength(1);
  });
});

describe('idempotency of bookings.create', () => {
  it('keys compare exactly: AbC… and abc… are two keys, two bookings', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10 });
    const key = `AbCdEfGh-${newKey()}`;
    const input = { flightId, passengers: passengers(1) };
    const upper = await t.trpc(user.accessToken).bookings.create.mutate({ ...input, idempotencyKey: key });
    const lower = await t.trpc(user.accessToken).bookings.create.mutate({ ...input, idempotencyKey: key.toLowerCase() });
    expect(lower.id).not.toBe(upper.id);
    expect(await t.trpc(user.accessToken).bookings.create.mutate({ ...input, idempotencyKey: key })).toEqual(upper);
    expect(await seatsAvailable(t.db, flightId)).toBe(8);
  });

  it('returns the stored response for the same key and input, whatever the key order, and books once', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10 });
    const k = newKey();
    const first = await t.trpc(user.accessToken).bookings.create.mutate({ flightId, passengers: [{ firstName: 'Ali', lastName: 'Saleh' }], idempotencyKey: k });
    const again = await t.trpc(user.accessToken).bookings.create.mutate({ idempotencyKey: k, passengers: [{ lastName: 'Saleh', firstName: 'Ali' }], flightId });
    expect(again).toEqual(first);
    expect(await seatsAvailable(t.db, flightId)).toBe(9);
  });

  it('refuses the same key with a different input as a payload mismatch, changing nothing', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10 });
    const k = newKey();
    await t.trpc(user.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: k });
    const err = await trpcError(t.trpc(user.accessToken).bookings.create.mutate({ flightId, passengers: passengers(2), idempotencyKey: k }));
    expect(err).toMatchObject({ code: 'UNPROCESSABLE_CONTENT', appCode: 'IDEMPOTENCY_PAYLOAD_MISMATCH', httpStatus: 422 });
    expect(await seatsAvailable(t.db, flightId)).toBe(9);
  });

  it('keeps keys apart per user: the same key from two users makes two bookings', async () => {
    const [a, b] = [await createUser(t.db), await createUser(t.db)];
    const flightId = await createFlight(t.db, { seats: 10 });
    const k = newKey();
    const ba = await t.trpc(a.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: k });
    const bb = await t.trpc(b.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: k });
    expect(ba.id).not.toBe(bb.id);
  });

  it('50 concurrent calls with one key create exactly one booking; every success is the same response', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 100 });
    const k = newKey();
    const client = t.trpc(user.accessToken);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => client.bookings.create.mutate({ flightId, passengers: passengers(2), idempotencyKey: k })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<any>).value);
    const failed = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of ok) expect(r).toEqual(ok[0]);
    for (const e of failed) expect(e.data.appCode).toBe('IDEMPOTENCY_IN_PROGRESS');
    const rows = await t.db.select().from(bookings).where(eq(bookings.userId, user.id));
    expect(rows).toHaveLength(1);
    expect(await seatsAvailable(t.db, flightId)).toBe(98);
    // A retry after the storm gets the same booking.
    expect((await client.bookings.create.mutate({ flightId, passengers: passengers(2), idempotencyKey: k })).id).toBe(rows[0]!.id);
  });

  it('leaves a key retryable after a failed attempt (SOLD_OUT), and the retry can succeed', async () => {
    const user = await createUser(t.db);
    const other = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 1 });
    const blocker = await t.trpc(other.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() });
    const k = newKey();
    expect(await trpcError(t.trpc(user.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: k }))).toMatchObject({ appCode: 'SOLD_OUT' });
    const [left] = await t.db.select({ n: count() }).from(idempotencyRequests).where(eq(idempotencyRequests.idempotencyKey, k));
    expect(left!.n).toBe(0);
    await t.trpc(other.accessToken).bookings.cancel.mutate({ id: blocker.id, idempotencyKey: newKey() });
    const retried = await t.trpc(user.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: k });
    expect(retried.status).toBe('pending_payment');
  });

  it('answers IDEMPOTENCY_IN_PROGRESS while a claim is held, and takes over a claim whose holder died', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10 });
    const input = { flightId, passengers: passengers(1) };
    const { fingerprint } = await import('../../server/services/idempotency.js');
    const k1 = newKey();
    await t.db.insert(idempotencyRequests).values({
      scope: 'bookings.create', principal: `user:${user.id}`, idempotencyKey: k1, fingerprint: fingerprint(input),
      status: 'started', lockedUntil: new Date(Date.now() + 60_000), expiresAt: new Date(Date.now() + 86_400_000),
    });
    expect(await trpcError(t.trpc(user.accessToken).bookings.create.mutate({ ...input, idempotencyKey: k1 }))).toMatchObject({
      code: 'CONFLICT', appCode: 'IDEMPOTENCY_IN_PROGRESS', httpStatus: 409,
    });
    const k2 = newKey();
    await t.db.insert(idempotencyRequests).values({
      scope: 'bookings.create', principal: `user:${user.id}`, idempotencyKey: k2, fingerprint: fingerprint(input),
      status: 'started', lockedUntil: new Date(Date.now() - 1000), expiresAt: new Date(Date.now() + 86_400_000),
    });
    const taken = await t.trpc(user.accessToken).bookings.create.mutate({ ...input, idempotencyKey: k2 });
    expect(taken.status).toBe('pending_payment');
    const [row] = await t.db.select().from(idempotencyRequests).where(eq(idempotencyRequests.idempotencyKey, k2));
    expect(row!.status).toBe('completed');
  });
});

describe('bookings.cancel', () => {
  it('cancels a pending booking once, releasing its seats exactly once', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10 });
    const client = t.trpc(user.accessToken);
    const b = await client.bookings.create.mutate({ flightId, passengers: passengers(3), idempotencyKey: newKey() });
    expect(await seatsAvailable(t.db, flightId)).toBe(7);
    const k = newKey();
    const cancelled = await client.bookings.cancel.mutate({ id: b.id, idempotencyKey: k });
    expect(cancelled).toMatchObject({ id: b.id, status: 'cancelled', holdExpiresAt: null });
    expect(await client.bookings.cancel.mutate({ id: b.id, idempotencyKey: k })).toEqual(cancelled); // replay
    expect(await trpcError(client.bookings.cancel.mutate({ id: b.id, idempotencyKey: newKey() }))).toMatchObject({
      appCode: 'INVALID_STATE_TRANSITION',
      message: expect.stringMatching(/from cancelled to cancelled/),
    });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
    const [row] = await t.db.select().from(bookings).where(eq(bookings.id, b.id));
    expect(row!.seatsHeld).toBe(0);
  });

  it('concurrent cancels of one booking release its seats once', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10 });
    const client = t.trpc(user.accessToken);
    const b = await client.bookings.create.mutate({ flightId, passengers: passengers(4), idempotencyKey: newKey() });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => client.bookings.cancel.mutate({ id: b.id, idempotencyKey: newKey() })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
    expect(await inventoryViolations(t.db, [flightId])).toEqual([]);
  });
});

describe('seat inventory under concurrency', () => {
  it('200 concurrent bookings for 20 seats: exactly 20 held, the rest SOLD_OUT', async () => {
    const flightId = await createFlight(t.db, { seats: 20 });
    const travellers = await Promise.all(Array.from({ length: 200 }, () => createUser(t.db)));
    const results = await Promise.allSettled(
      travellers.map((u) => t.trpc(u.accessToken).bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.data.appCode);
    expect(ok).toHaveLength(20);
    expect(new Set(refused)).toEqual(new Set(['SOLD_OUT']));
    expect(await seatsAvailable(t.db, flightId)).toBe(0);
    expect(await inventoryViolations(t.db, [flightId])).toEqual([]);
  });

  it('keeps seats_available + seats held = seats_total after a randomised concurrent mix', async () => {
    const flightIds = [await createFlight(t.db, { seats: 12 }), await createFlight(t.db, { seats: 7 })];
    const users = await Promise.all(Array.from({ length: 30 }, () => createUser(t.db)));
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    await Promise.allSettled(
      users.map(async (u) => {
        const client = t.trpc(u.accessToken);
        for (let i = 0; i < 4; i++) {
          const flightId = flightIds[Math.floor(rand() * 2)]!;
          const b = await client.bookings.create.mutate({ flightId, passengers: passengers(1 + Math.floor(rand() * 3)), idempotencyKey: newKey() }).catch(() => null);
          if (b && rand() < 0.5) await client.bookings.cancel.mutate({ id: b.id, idempotencyKey: newKey() }).catch(() => null);
        }
      }),
    );
    expect(await inventoryViolations(t.db, flightIds)).toEqual([]);
    const passengerRows = await t.db.select({ n: count() }).from(bookingPassengers);
    expect(passengerRows[0]!.n).toBeGreaterThan(0);
  });
});
