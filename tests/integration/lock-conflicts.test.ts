import { afterEach, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import request from 'supertest';
import { newKey, passengers } from '../support/booking-flow.js';
import { createFlight, seatsAvailable } from '../support/flights.js';
import { createUser, uniqueEmail } from '../support/users.js';
import { flights } from '../../server/db/schema/index.js';
import { DEADLOCK_ATTEMPTS, idempotentTransaction } from '../../server/services/idempotency.js';
import { mysqlErrorCode } from '../../server/lib/errors.js';
import { useTestApp } from '../support/lifecycle.js';

/**
 * A deadlock or lock-wait timeout that escapes to the edge is a retryable 503 with Retry-After, over tRPC
 * and over REST, never a 500. A trigger makes the database raise the real error numbers (1213, 1205).
 */
const t = useTestApp();

async function failInsertsInto(table: 'bookings' | 'users', errno: 1213 | 1205) {
  const sqlstate = errno === 1213 ? '40001' : 'HY000';
  await t.db.execute(
    sql.raw(`CREATE TRIGGER trg_test_conflict_${table} BEFORE INSERT ON ${table} FOR EACH ROW SIGNAL SQLSTATE '${sqlstate}' SET MYSQL_ERRNO = ${errno}, MESSAGE_TEXT = 'simulated lock conflict'`),
  );
}

afterEach(async () => {
  await t.db.execute(sql.raw('DROP TRIGGER IF EXISTS trg_test_conflict_bookings'));
  await t.db.execute(sql.raw('DROP TRIGGER IF EXISTS trg_test_conflict_users'));
});

describe('lock conflicts that reach a client', () => {
  it('a deadlock in bookings.create is 503 SERVICE_UNAVAILABLE with Retry-After over tRPC, and nothing is held', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10 });
    await failInsertsInto('bookings', 1213);
    const res = await request(t.baseUrl)
      .post('/trpc/bookings.create')
      .set('Authorization', `Bearer ${user.accessToken}`)
      .send({ flightId, passengers: passengers(2), idempotencyKey: newKey() });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.body.error.data).toMatchObject({ code: 'SERVICE_UNAVAILABLE', httpStatus: 503, appCode: 'SERVICE_UNAVAILABLE' });
    expect(res.body.error.message).toMatch(/retry shortly/);
    expect(JSON.stringify(res.body)).not.toMatch(/simulated|insert into|fbt_/i);
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
  });

  it('a lock-wait timeout in a REST sign-up is 503 in the REST envelope with Retry-After', async () => {
    await failInsertsInto('users', 1205);
    const res = await request(t.baseUrl).post('/api/mobile/v1/auth/register').send({ email: uniqueEmail(), password: 'a long enough password', name: 'Busy' });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.body).toEqual({ error: { code: 'SERVICE_UNAVAILABLE', message: expect.stringMatching(/retry shortly/), requestId: expect.any(String) } });
  });

  it('any other database error is still a generic 500 without Retry-After', async () => {
    const user = await createUser(t.db);
    const flightId = await createFlight(t.db, { seats: 10 });
    await t.db.execute(sql.raw(`CREATE TRIGGER trg_test_conflict_bookings BEFORE INSERT ON bookings FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'broken'`));
    const res = await request(t.baseUrl)
      .post('/trpc/bookings.create')
      .set('Authorization', `Bearer ${user.accessToken}`)
      .send({ flightId, passengers: passengers(1), idempotencyKey: newKey() });
    expect(res.status).toBe(500);
    expect(res.headers['retry-after']).toBeUndefined();
  });
});

describe('a deadlock victim is run again before anything reaches the client', () => {
  const deadlock = sql.raw(`SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'simulated deadlock'`);

  /** A transaction that writes a flight numbered `number`, then loses a deadlock on its first `losses` runs. */
  const run = (number: string, losses: number, runs: { n: number }) =>
    idempotentTransaction(t.deps, { scope: 'test.deadlock', principal: 'system', key: newKey(), input: { number } }, async (tx) => {
      runs.n++;
      const departureAt = new Date(Date.now() + 72 * 3600_000);
      await tx.insert(flights).values({ flightNumber: number, origin: 'RUH', destination: 'JED', departureAt, arrivalAt: new Date(departureAt.getTime() + 3600_000), priceMinor: 100, currency: 'SAR', seatsTotal: 1, seatsAvailable: 1 });
      if (runs.n <= losses) await tx.execute(deadlock);
      return { runs: runs.n };
    });

  it('one lost deadlock: the transaction runs again and commits once', async () => {
    await createFlight(t.db); // the airports
    const runs = { n: 0 };
    expect((await run('DL1', 1, runs)).response).toEqual({ runs: 2 });
    expect(await t.db.select().from(flights).where(eq(flights.flightNumber, 'DL1'))).toHaveLength(1);
  });

  it(`losing ${DEADLOCK_ATTEMPTS} times in a row gives up with the deadlock (the edge answers 503), nothing written`, async () => {
    await createFlight(t.db);
    const runs = { n: 0 };
    const err = await run('DL2', 99, runs).catch((e: unknown) => e);
    expect(mysqlErrorCode(err)).toBe('ER_LOCK_DEADLOCK');
    expect(runs.n).toBe(DEADLOCK_ATTEMPTS);
    expect(await t.db.select().from(flights).where(eq(flights.flightNumber, 'DL2'))).toHaveLength(0);
  });
});
