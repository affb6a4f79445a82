import { and, asc, eq, gte, lt } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import { flights } from '../db/schema/index.js';
import { airportsByIata } from './airports.js';
import { cachedSearch } from './search-cache.js';
import { AppError } from '../lib/errors.js';
import { localDate, localDayRangeUtc } from '../lib/time.js';
import { logger } from '../lib/logger.js';
import { isBookable } from './cutoffs.js';

export interface FlightSearchInput {
  origin: string;
  destination: string;
  /** Local calendar date at the origin airport, YYYY-MM-DD. */
  date: string;
  passengers: number;
}

export interface FlightView {
  id: number;
  flightNumber: string;
  origin: string;
  destination: string;
  departureAt: string;
  arrivalAt: string;
  priceMinor: number;
  currency: string;
  seatsAvailable: number;
}

const flightColumns = {
  id: flights.id,
  flightNumber: flights.flightNumber,
  origin: flights.origin,
  destination: flights.destination,
  departureAt: flights.departureAt,
  arrivalAt: flights.arrivalAt,
  priceMinor: flights.priceMinor,
  currency: flights.currency,
  seatsAvailable: flights.seatsAvailable,
};

type FlightRow = { [K in keyof typeof flightColumns]: (typeof flights.$inferSelect)[K] };

function toView(row: FlightRow): FlightView {
  return { ...row, departureAt: row.departureAt.toISOString(), arrivalAt: row.arrivalAt.toISOString() };
}


/**
 * Flights departing on `date` in the ORIGIN's local time (a 01:30 departure from Riyadh belongs to its
 * Riyadh date, not the UTC one) with at least `passengers` seats, ordered by departure. The day's answer
 * comes from the search cache (search-cache.ts) or one query; flights no longer on sale are dropped on
 * the way out, so a cached answer never offers one.
 */
export async function searchFlights(deps: Pick<Deps, 'db' | 'clock' | 'redis' | 'config'>, input: FlightSearchInput): Promise<FlightView[]> {
  const { db } = deps;
  const now = deps.clock.now();
  // Airports come from memory (airports.ts): the search itself is the one database round trip.
  const known = await airportsByIata(db);
  const origin = known.get(input.origin);
  if (!origin) throw new AppError('VALIDATION', `Unknown origin airport ${input.origin}`);
  const destination = known.get(input.destination);
  if (!destination) throw new AppError('VALIDATION', `Unknown destination airport ${input.destination}`);
  if (input.date < localDate(now, origin.timeZone)) {
    throw new AppError('VALIDATION', `date ${input.date} is in the past at ${origin.iata}`);
  }
  const key = { origin: origin.iata, destination: destination.iata, date: input.date, passengers: input.passengers };
  const day = await cachedSearch(deps, key, async () => {
    const { start, end } = localDayRangeUtc(input.date, origin.timeZone);
    const rows = await db
      .select(flightColumns)
      .from(flights)
      .where(
        and(
          eq(flights.origin, origin.iata),
          eq(flights.destination, destination.iata),
          gte(flights.departureAt, start),
          lt(flights.departureAt, end),
          gte(flights.seatsAvailable, input.passengers),
        ),
      )
      .orderBy(asc(flights.departureAt), asc(flights.id));
    // One line per database search (cache misses only): bench:search counts them.
    logger.debug({ origin: origin.iata, destination: destination.iata, date: input.date, found: rows.length }, 'flight search');
    return rows.map(toView);
  });
  // Only flights still on sale, judged now, not when the answer was cached.
  return day.filter((f) => isBookable(new Date(f.departureAt), now, deps.config.SALES_CUTOFF_MINUTES));
}

export async function getFlight({ db }: Pick<Deps, 'db'>, input: { id: number }): Promise<FlightView> {
  const [row] = await db.select(flightColumns).from(flights).where(eq(flights.id, input.id)).limit(1);
  if (!row) throw new AppError('NOT_FOUND', `Flight ${input.id} not found`);
  return toView(row);
}
