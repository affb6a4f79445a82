import { describe, expect, it } from 'vitest';
import { TRPCClientError } from '@trpc/client';
import { eq } from 'drizzle-orm';
import { createUser } from '../support/users.js';
import { createFlight } from '../support/flights.js';
import { bookings, flights } from '../../server/db/schema/index.js';
import { inventoryViolations } from '../../server/services/inventory.js';
import { useE2E } from '../support/lifecycle.js';

const e = useE2E();

describe('e2e 4: retries and races on booking', () => {
  it('the same bookings.create 20 times concurrently with one key: one booking, the same response to every success; another payload is a mismatch', async () => {
    const user = await createUser(e.db);
    const flightId = await createFlight(e.db, { seats: 50 });
    const client = e.trpc(user.accessToken);
    const input = { flightId, passengers: [{ firstName: 'Yousef', lastName: 'Saad' }], idempotencyKey: `race-${user.id}-key` };
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => client.bookings.create.mutate(input)));
    const ok = results.filter((r): r is PromiseFulfilledResult<any> => r.status === 'fulfilled').map((r) => r.value);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as TRPCClientError<any>);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of ok) expect(r).toEqual(ok[0]);
    for (const r of refused) expect(r.data.appCode).toBe('IDEMPOTENCY_IN_PROGRESS');
    const rows = await e.db.select().from(bookings).where(eq(bookings.userId, user.id));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.id).toBe(ok[0].id);

    const mismatch = await client.bookings.create.mutate({ ...input, passengers: [{ firstName: 'Yousef', lastName: 'Other' }] }).catch((err: unknown) => err as TRPCClientError<any>);
    expect(mismatch).toBeInstanceOf(TRPCClientError);
    expect((mismatch as TRPCClientError<any>).data).toMatchObject({ code: 'UNPROCESSABLE_CONTENT', appCode: 'IDEMPOTENCY_PAYLOAD_MISMATCH' });
    expect(await e.db.select().from(bookings).where(eq(bookings.userId, user.id))).toHaveLength(1);
  });

  it("100 travellers racing for a flight's last 5 seats: exactly 5 bookings, the rest SOLD_OUT, the seat invariant holds", async () => {
    const flightId = await createFlight(e.db, { seats: 5 });
    const travellers = await Promise.all(Array.from({ length: 100 }, () => createUser(e.db)));
    const results = await Promise.allSettled(
      travellers.map((u, i) =>
        e.trpc(u.accessToken).bookings.create.mutate({ flightId, passengers: [{ firstName: 'Racer', lastName: `Number ${'ABCDEFGHIJ'[i % 10]}` }], idempotencyKey: `last-seats-${u.id}` }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const reasons = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as TRPCClientError<any>).data.appCode);
    expect(new Set(reasons)).toEqual(new Set(['SOLD_OUT']));
    const held = await e.db.select().from(bookings).where(eq(bookings.flightId, flightId));
    expect(held).toHaveLength(5);
    const [flight] = await e.db.select().from(flights).where(eq(flights.id, flightId));
    expect(flight!.seatsAvailable).toBe(0);
    expect(await inventoryViolations(e.db, [flightId])).toEqual([]);
  });
});
