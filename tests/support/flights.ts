import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../../server/db/types.js';
import { airports, flights } from '../../server/db/schema/index.js';
import { AIRPORTS } from '../../server/db/seed-data.js';

/** A future flight with the given seats (airports are inserted on first use). */
export async function createFlight(db: Db, opts: { seats?: number; priceMinor?: number; departureInHours?: number } = {}) {
  await db.insert(airports).ignore().values([...AIRPORTS]);
  const seats = opts.seats ?? 150;
  const departureAt = new Date(Date.now() + (opts.departureInHours ?? 72) * 3600_000);
  const [res] = await db.insert(flights).values({
    flightNumber: `T${randomBytes(3).toString('hex').toUpperCase()}`.slice(0, 8),
    origin: 'RUH',
    destination: 'JED',
    departureAt,
    arrivalAt: new Date(departureAt.getTime() + 110 * 60_000),
    priceMinor: opts.priceMinor ?? 45_000,
    currency: 'SAR',
    seatsTotal: seats,
    seatsAvailable: seats,
  });
  return res.insertId;
}

export async function seatsAvailable(db: Db, flightId: number): Promise<number> {
  const [row] = await db.select({ n: flights.seatsAvailable }).from(flights).where(eq(flights.id, flightId));
  return row!.n;
}
