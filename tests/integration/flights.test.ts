import { beforeAll, describe, expect, it } from 'vitest';
import { TRPCClientError } from '@trpc/client';
import { useTestApp } from '../support/lifecycle.js';
import { seed } from '../../server/db/seed.js';
import { flights } from '../../server/db/schema/index.js';
import { searchFlights } from '../../server/services/flights.js';

const t = useTestApp();
const ids: Record<string, number> = {};

async function addFlight(key: string, departure: string, seatsAvailable = 100, origin = 'RUH', destination = 'JED') {
  const departureAt = new Date(departure);
  const [res] = await t.db.insert(flights).values({
    flightNumber: `T${Object.keys(ids).length + 100}`,
    origin,
    destination,
    departureAt,
    arrivalAt: new Date(departureAt.getTime() + 110 * 60_000),
    priceMinor: 45_000,
    currency: 'SAR',
    seatsTotal: 150,
    seatsAvailable,
  });
  ids[key] = res.insertId;
}

beforeAll(async () => {
  await seed(t.db, { days: 0 }); // airports only
  // Riyadh is UTC+3 all year: local 2030-05-11 runs from 2030-05-10T21:00Z to 2030-05-11T21:00Z.
  await addFlight('lateUtcEarlyLocal', '2030-05-10T22:30:00Z'); // 01:30 on the 11th in Riyadh
  await addFlight('previousLocalDay', '2030-05-10T20:59:00Z'); // 23:59 on the 10th
  await addFlight('midday', '2030-05-11T10:00:00Z');
  await addFlight('lastMinute', '2030-05-11T20:59:00Z'); // 23:59 on the 11th
  await addFlight('nextLocalDay', '2030-05-11T21:00:00Z'); // 00:00 on the 12th
  await addFlight('almostFull', '2030-05-11T12:00:00Z', 1);
  await addFlight('otherRoute', '2030-05-11T12:00:00Z', 100, 'JED', 'RUH');
});

describe('flights.search over tRPC', () => {
  it("returns the flights departing on the origin's local date with enough seats, ordered by departure", async () => {
    const { flights: found } = await t.trpc().flights.search.query({ origin: 'RUH', destination: 'JED', date: '2030-05-11', passengers: 2 });
    expect(found.map((f) => f.id)).toEqual([ids.lateUtcEarlyLocal, ids.midday, ids.lastMinute]);
    expect(found[0]).toMatchObject({
      flightNumber: expect.any(String),
      origin: 'RUH',
      destination: 'JED',
      departureAt: '2030-05-10T22:30:00.000Z',
      priceMinor: 45_000,
      currency: 'SAR',
      seatsAvailable: 100,
    });
    expect(Object.keys(found[0]!).sort()).toEqual(
      ['arrivalAt', 'currency', 'departureAt', 'destination', 'flightNumber', 'id', 'origin', 'priceMinor', 'seatsAvailable'].sort(),
    );
  });

  it('includes a flight with exactly enough seats and normalises lower-case codes', async () => {
    const { flights: found } = await t.trpc().flights.search.query({ origin: 'ruh', destination: 'jed', date: '2030-05-11', passengers: 1 });
    expect(found.map((f) => f.id)).toContain(ids.almostFull);
  });

  it('lists only flights still on sale: sales close SALES_CUTOFF_MINUTES before departure, less the time to pay', async () => {
    const at = (iso: string) => ({ ...t.deps, clock: { now: () => new Date(iso) } });
    const input = { origin: 'RUH', destination: 'JED', date: '2030-05-11', passengers: 2 };
    // midday departs 10:00Z: sales close 09:00Z, and a booking needs a 30-minute page (+65 s) before that.
    expect((await searchFlights(at('2030-05-11T08:28:00Z'), input)).map((f) => f.id)).toEqual([ids.midday, ids.lastMinute]);
    expect((await searchFlights(at('2030-05-11T08:30:00Z'), input)).map((f) => f.id)).toEqual([ids.lastMinute]);
  });

  it.each([
    [{ origin: 'RU1', destination: 'JED', date: '2030-05-11', passengers: 1 }, /origin: must be a three-letter IATA airport code/],
    [{ origin: 'RUH', destination: 'RUH', date: '2030-05-11', passengers: 1 }, /origin and destination must differ/],
    [{ origin: 'RUH', destination: 'JED', date: '11/05/2030', passengers: 1 }, /date: must be a calendar date/],
    [{ origin: 'RUH', destination: 'JED', date: '2030-05-11', passengers: 10 }, /passengers/],
    [{ origin: 'RUH', destination: 'JED', date: '2020-01-01', passengers: 1 }, /in the past/],
    [{ origin: 'XXX', destination: 'JED', date: '2030-05-11', passengers: 1 }, /Unknown origin airport XXX/],
  ])('refuses bad input with a clear validation error: %j', async (input, message) => {
    const err = await t.trpc().flights.search.query(input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCClientError);
    const e = err as TRPCClientError<any>;
    expect(e.data.code).toBe('BAD_REQUEST');
    expect(e.data.httpStatus).toBe(400);
    expect(e.data.appCode).toBe('VALIDATION');
    expect(e.data.requestId).toEqual(expect.any(String));
    expect(e.message).toMatch(message);
    expect(e.data.stack).toBeUndefined();
  });

  it('flights.byId returns one flight, and NOT_FOUND for an unknown id', async () => {
    const flight = await t.trpc().flights.byId.query({ id: ids.midday! });
    expect(flight.id).toBe(ids.midday);
    const err = (await t.trpc().flights.byId.query({ id: 99_999_999 }).catch((e: unknown) => e)) as TRPCClientError<any>;
    expect(err.data.code).toBe('NOT_FOUND');
    expect(err.data.appCode).toBe('NOT_FOUND');
    expect(err.data.httpStatus).toBe(404);
  });
});
