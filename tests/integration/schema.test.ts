import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, sql } from 'drizzle-orm';
import { createTestDatabase } from '../support/harness.js';
import { seed } from '../../server/db/seed.js';
import { flights, airports, bookings, financialLedger } from '../../server/db/schema/index.js';
import { recordLedgerEntry } from '../../server/services/ledger.js';
import { createUser } from '../support/users.js';
import { createFlight } from '../support/flights.js';

let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(() => testDb.drop());

const EXPECTED_UNIQUE = [
  ['users', 'uq_users_email'],
  ['refresh_tokens', 'uq_refresh_tokens_token_hash'],
  ['flights', 'uq_flights_number_departure'],
  ['bookings', 'uq_bookings_checkout_session'],
  ['bookings', 'uq_bookings_payment_intent'],
  ['booking_passengers', 'uq_booking_passengers_position'],
  ['payments', 'uq_payments_checkout_session'],
  ['financial_ledger', 'uq_ledger_movement_key'],
  ['idempotency_requests', 'uq_idempotency_scope_principal_key'],
  ['outbox', 'uq_outbox_dedupe_key'],
];

describe('migrations', () => {
  it('create every table of the design on an empty database', async () => {
    const [rows] = (await testDb.database.db.execute(
      sql`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${testDb.name}`,
    )) as unknown as [{ t: string }[]];
    const tables = rows.map((r) => r.t).sort();
    expect(tables).toEqual(
      [
        '__drizzle_migrations', 'airports', 'booking_passengers', 'booking_transitions', 'bookings', 'email_deliveries', 'financial_ledger',
        'flights', 'idempotency_requests', 'outbox', 'payments', 'reconciliation_runs', 'refresh_tokens', 'stripe_events', 'users',
      ].sort(),
    );
  });

  it('name every unique constraint', async () => {
    const [rows] = (await testDb.database.db.execute(
      sql`SELECT TABLE_NAME AS t, CONSTRAINT_NAME AS c FROM information_schema.TABLE_CONSTRAINTS
          WHERE TABLE_SCHEMA = ${testDb.name} AND CONSTRAINT_TYPE = 'UNIQUE'`,
    )) as unknown as [{ t: string; c: string }[]];
    const found = rows.map((r) => [r.t, r.c]);
    for (const pair of EXPECTED_UNIQUE) expect(found).toContainEqual(pair);
    for (const [, name] of found) expect(name).toMatch(/^uq_/);
  });

  it('make the ledger append-only in the database itself', async () => {
    const db = testDb.database.db;
    const userId = await createUser(db).then((u) => u.id);
    const flightId = await createFlight(db);
    const [b] = await db.insert(bookings).values({ userId, flightId, passengerCount: 1, totalMinor: 45_000, currency: 'SAR', seatsHeld: 0 });
    await recordLedgerEntry(db, 'charge', { bookingId: b.insertId, userId, amountMinor: 45_000, currency: 'sar', paymentIntentId: 'pi_append_only', eventId: 'evt_append_only' });
    await expect(db.execute(sql`UPDATE financial_ledger SET amount_minor = 1`)).rejects.toThrow();
    await expect(db.execute(sql`DELETE FROM financial_ledger`)).rejects.toThrow();
    // And the movement key makes the same money impossible to book twice.
    expect(await recordLedgerEntry(db, 'charge', { bookingId: b.insertId, userId, amountMinor: 45_000, currency: 'SAR', paymentIntentId: 'pi_append_only', eventId: 'evt_other' })).toBe(false);
    const entries = await db.select().from(financialLedger);
    expect(entries).toMatchObject([{ amountMinor: 45_000, currency: 'SAR', movementKey: 'charge:pi_append_only', stripeEventId: 'evt_append_only' }]);
    const [rows] = (await testDb.database.db.execute(
      sql`SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${testDb.name}`,
    )) as unknown as [{ n: string }[]];
    expect(rows.map((r) => r.n).sort()).toEqual([
      'trg_booking_transitions_no_update',
      'trg_financial_ledger_no_delete',
      'trg_financial_ledger_no_update',
    ]);
  });
});

describe('seed', () => {
  it('builds a timetable of a few thousand SAR flights, and a second run changes nothing', async () => {
    const db = testDb.database.db;
    const first = await seed(db, { startDate: '2031-03-01', days: 60 });
    expect(first.flightsInserted).toBeGreaterThan(2000);
    const [{ n: flightsAfterFirst }] = (await db.select({ n: count() }).from(flights)) as [{ n: number }];
    const snapshot = await db.execute(sql`CHECKSUM TABLE flights`);
    const second = await seed(db, { startDate: '2031-03-01', days: 60 });
    expect(second.flightsInserted).toBe(0);
    const [{ n: flightsAfterSecond }] = (await db.select({ n: count() }).from(flights)) as [{ n: number }];
    expect(flightsAfterSecond).toBe(flightsAfterFirst);
    expect(await db.execute(sql`CHECKSUM TABLE flights`)).toEqual(snapshot);
    const [{ n: airportCount }] = (await db.select({ n: count() }).from(airports)) as [{ n: number }];
    expect(airportCount).toBeGreaterThanOrEqual(11);
    const currencies = await db.selectDistinct({ c: flights.currency }).from(flights);
    expect(currencies).toEqual([{ c: 'SAR' }]);
  });
});
