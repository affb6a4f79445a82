import { describe, expect, it } from 'vitest';
import { count, eq } from 'drizzle-orm';
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import { newKey, passengers } from '../support/booking-flow.js';
import { createFlight, seatsAvailable } from '../support/flights.js';
import { createUser } from '../support/users.js';
import { trpcError } from '../support/trpc-errors.js';
import { bookings } from '../../server/db/schema/index.js';
import type { AppRouter } from '../../server/trpc/router.js';
import { useTestApp } from '../support/lifecycle.js';

/** The defaults: 3 unpaid bookings, 9 unpaid seats per account, 10 calls per tRPC batch. */
const t = useTestApp({ config: { MAX_UNPAID_BOOKINGS_PER_USER: 3, MAX_UNPAID_SEATS_PER_USER: 9, TRPC_MAX_BATCH_SIZE: 10 } });

async function traveller() {
  const user = await createUser(t.db);
  return { user, client: t.trpc(user.accessToken) };
}

const unpaidOf = async (userId: number) => {
  const [r] = await t.db.select({ n: count() }).from(bookings).where(eq(bookings.userId, userId));
  return r!.n;
};

describe('unpaid holds are capped per account', () => {
  it('a fourth unpaid booking is TOO_MANY_HOLDS (TOO_MANY_REQUESTS, 429) and holds nothing', async () => {
    const { user, client } = await traveller();
    const flightId = await createFlight(t.db, { seats: 50 });
    for (let i = 0; i < 3; i++) await client.bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() });
    const err = await trpcError(client.bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() }));
    expect(err).toMatchObject({ code: 'TOO_MANY_REQUESTS', appCode: 'TOO_MANY_HOLDS', httpStatus: 429 });
    expect(err.message).toMatch(/at most 3 bookings and 9 seats/);
    expect(await seatsAvailable(t.db, flightId)).toBe(47);
    expect(await unpaidOf(user.id)).toBe(3);
  });

  it('unpaid seats are capped over all of the account’s bookings', async () => {
    const { client } = await traveller();
    const flightId = await createFlight(t.db, { seats: 50 });
    await client.bookings.create.mutate({ flightId, passengers: passengers(5), idempotencyKey: newKey() });
    await client.bookings.create.mutate({ flightId, passengers: passengers(4), idempotencyKey: newKey() });
    expect(await trpcError(client.bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() }))).toMatchObject({ appCode: 'TOO_MANY_HOLDS' });
    expect(await seatsAvailable(t.db, flightId)).toBe(41);
  });

  it('concurrent creates by one account cannot slip past the cap: exactly 3 of 12 succeed', async () => {
    const { user, client } = await traveller();
    const flightId = await createFlight(t.db, { seats: 50 });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, () => client.bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() })),
    );
    const refused = results.filter((r) => r.status === 'rejected').map((r) => ((r as PromiseRejectedResult).reason as TRPCClientError<AppRouter>).data?.appCode);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(refused).toEqual(Array(9).fill('TOO_MANY_HOLDS'));
    expect(await unpaidOf(user.id)).toBe(3);
    expect(await seatsAvailable(t.db, flightId)).toBe(47);
  });

  it('a cancelled booking or a lapsed hold frees its place; other accounts are not affected', async () => {
    const { client } = await traveller();
    const flightId = await createFlight(t.db, { seats: 50 });
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await client.bookings.create.mutate({ flightId, passengers: passengers(3), idempotencyKey: newKey() }));
    await client.bookings.cancel.mutate({ id: made[0]!.id, idempotencyKey: newKey() });
    await client.bookings.create.mutate({ flightId, passengers: passengers(3), idempotencyKey: newKey() });
    // A hold that lapsed but the expiry job has not swept yet no longer counts.
    await t.db.update(bookings).set({ holdExpiresAt: new Date(Date.now() - 1000) }).where(eq(bookings.id, made[1]!.id));
    await client.bookings.create.mutate({ flightId, passengers: passengers(3), idempotencyKey: newKey() });
    const other = await traveller();
    await other.client.bookings.create.mutate({ flightId, passengers: passengers(3), idempotencyKey: newKey() });
  });

  it('a retry with the same idempotency key is answered from the record, not counted again', async () => {
    const { client } = await traveller();
    const flightId = await createFlight(t.db, { seats: 50 });
    const input = { flightId, passengers: passengers(3), idempotencyKey: newKey() };
    const first = await client.bookings.create.mutate(input);
    await client.bookings.create.mutate({ flightId, passengers: passengers(3), idempotencyKey: newKey() });
    await client.bookings.create.mutate({ flightId, passengers: passengers(3), idempotencyKey: newKey() });
    expect(await client.bookings.create.mutate(input)).toEqual(first);
  });
});

describe('tRPC batches are capped (TRPC_MAX_BATCH_SIZE)', () => {
  const batchClient = (accessToken?: string) =>
    createTRPCClient<AppRouter>({
      links: [httpBatchLink({ url: `${t.baseUrl}/trpc`, maxItems: 100, headers: () => (accessToken ? { authorization: `Bearer ${accessToken}` } : {}) })],
    });

  it('a batch of 11 bookings.create is refused as a whole with a clear error, and nothing is booked', async () => {
    const { user } = await traveller();
    const flightId = await createFlight(t.db, { seats: 50 });
    const client = batchClient(user.accessToken);
    const results = await Promise.allSettled(
      Array.from({ length: 11 }, () => client.bookings.create.mutate({ flightId, passengers: passengers(1), idempotencyKey: newKey() })),
    );
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as TRPCClientError<AppRouter>;
      expect(err).toBeInstanceOf(TRPCClientError);
      expect(err.data).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400, appCode: 'BATCH_TOO_LARGE' });
      expect(err.message).toMatch(/Too many calls in one batch request/);
    }
    expect(await unpaidOf(user.id)).toBe(0);
    expect(await seatsAvailable(t.db, flightId)).toBe(50);
  });

  it('a batch of 10 runs', async () => {
    const client = batchClient();
    const flightId = await createFlight(t.db, { seats: 5 });
    const found = await Promise.all(Array.from({ length: 10 }, () => client.flights.byId.query({ id: flightId })));
    expect(found.map((f) => f.id)).toEqual(Array(10).fill(flightId));
  });
});
