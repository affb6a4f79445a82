import { and, asc, eq, gte, lt, sql } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import { prepared } from '../db/prepared.js';
import { flights } from '../db/schema/index.js';
import { airportsByIata } from './airports.js';
import { cachedSearch, peekSearch } from './search-cache.js';
import { AppError } from '../lib/errors.js';
import { localDate, localDayRangeUtc } from '../lib/time.js';
import { logger } from '../lib/logger.js';
import { bookableUntilMs, isBookable } from './cutoffs.js';

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


type SearchDeps = Pick<Deps, 'db' | 'clock' | 'redis' | 'config'>;

/**
 * The search's one query, prepared once per database handle (measured: about half the CPU of an uncached
 * search went to drizzle building it again on every call).
 */
const dayQuery = prepared((db) =>
  db
    .select(flightColumns)
    .from(flights)
    .where(
      and(
        eq(flights.origin, sql.placeholder('origin')),
        eq(flights.destination, sql.placeholder('destination')),
        gte(flights.departureAt, sql.placeholder('start')),
        lt(flights.departureAt, sql.placeholder('end')),
        gte(flights.seatsAvailable, sql.placeholder('passengers')),
      ),
    )
    .orderBy(asc(flights.departureAt), asc(flights.id))
    .prepare(),
);

/** The search's cache key, once its airports are known and its date is not past at the origin. */
async function searchKeyOf(deps: SearchDeps, input: FlightSearchInput, now: Date) {
  // Airports come from memory (airports.ts): the search itself is the one database round trip.
  const known = await airportsByIata(deps.db);
  const origin = known.get(input.origin);
  if (!origin) throw new AppError('VALIDATION', `Unknown origin airport ${input.origin}`);
  const destination = known.get(input.destination);
  if (!destination) throw new AppError('VALIDATION', `Unknown destination airport ${input.destination}`);
  if (input.date < localDate(now, origin.timeZone)) {
    throw new AppError('VALIDATION', `date ${input.date} is in the past at ${origin.iata}`);
  }
  return { origin, key: { origin: origin.iata, destination: destination.iata, date: input.date, passengers: input.passengers, layout: ANSWER_LAYOUT } };
}

/** Bumped whenever encodeAnswer's layout changes (the cache keys entries by it). */
const ANSWER_LAYOUT = 'flights-v2';

/**
 * A search's answer as cached: "<valid until, ms>|<sales cutoff, minutes>|<JSON array of FlightView>".
 * The array holds the flights on sale when it was made, judged with the filler's SALES_CUTOFF_MINUTES;
 * it stays exact until the first of them stops being bookable (valid until), since a flight off sale
 * never comes back on. Until then, and for a reader with the same cutoff, it is sent byte for byte.
 */
const onSaleAt = (views: FlightView[], now: Date, salesCutoffMinutes: number) =>
  views.filter((f) => isBookable(new Date(f.departureAt), now, salesCutoffMinutes));

function encodeAnswer(views: FlightView[], now: Date, salesCutoffMinutes: number): string {
  const onSale = onSaleAt(views, now, salesCutoffMinutes);
  const validUntil = Math.min(8.64e15, ...onSale.map((f) => bookableUntilMs(new Date(f.departureAt), salesCutoffMinutes)));
  return `${validUntil}|${salesCutoffMinutes}|${JSON.stringify(onSale)}`;
}

/**
 * The JSON of the flights on sale at `now`, from an answer: as cached while it is still exact, else
 * filtered again (its time has passed, or a process with another cutoff made it: a deploy changing
 * SALES_CUTOFF_MINUTES never lets an older process's answer offer a flight the new rule closed).
 */
function answerAt(entry: string, now: Date, salesCutoffMinutes: number): string {
  const [validUntil, cutoff] = entry.split('|', 2);
  const json = entry.slice(validUntil!.length + cutoff!.length + 2);
  if (Number(cutoff) === salesCutoffMinutes && now.getTime() <= Number(validUntil)) return json;
  return JSON.stringify(onSaleAt(JSON.parse(json) as FlightView[], now, salesCutoffMinutes));
}

/**
 * Flights departing on `date` in the ORIGIN's local time (a 01:30 departure from Riyadh belongs to its
 * Riyadh date, not the UTC one) with at least `passengers` seats, ordered by departure, still on sale,
 * as JSON (the form the cache keeps and HTTP sends). The answer comes from the search cache
 * (search-cache.ts) or one query; flights whose sales closed are never offered, even from the cache.
 */
export async function searchFlightsJson(deps: SearchDeps, input: FlightSearchInput): Promise<string> {
  const { db } = deps;
  const now = deps.clock.now();
  const cutoff = deps.config.SALES_CUTOFF_MINUTES;
  const { origin, key } = await searchKeyOf(deps, input, now);
  const entry = await cachedSearch(deps, key, async () => {
    const { start, end } = localDayRangeUtc(key.date, origin.timeZone);
    const rows = await dayQuery(db).execute({ origin: key.origin, destination: key.destination, start, end, passengers: key.passengers });
    // One line per database search (cache misses only): bench:search counts them.
    logger.debug({ origin: key.origin, destination: key.destination, date: key.date, found: rows.length }, 'flight search');
    return encodeAnswer(rows.map(toView), now, cutoff);
  });
  return answerAt(entry, now, cutoff);
}

export async function searchFlights(deps: SearchDeps, input: FlightSearchInput): Promise<FlightView[]> {
  return JSON.parse(await searchFlightsJson(deps, input)) as FlightView[];
}

/**
 * The search's JSON when the cache holds it (one Redis round trip, no database): the HTTP layer answers
 * such a GET before tRPC. Undefined when it does not, or when the search is invalid: the caller then
 * takes the full path, which fills the cache or explains the error.
 */
export async function cachedSearchJson(deps: SearchDeps, input: FlightSearchInput): Promise<string | undefined> {
  if (deps.config.SEARCH_CACHE_TTL_SECONDS === 0) return undefined;
  const now = deps.clock.now();
  const found = await searchKeyOf(deps, input, now).catch(() => undefined);
  const entry = found && (await peekSearch(deps, found.key));
  return entry ? answerAt(entry, now, deps.config.SALES_CUTOFF_MINUTES) : undefined;
}

export async function getFlight({ db }: Pick<Deps, 'db'>, input: { id: number }): Promise<FlightView> {
  const [row] = await db.select(flightColumns).from(flights).where(eq(flights.id, input.id)).limit(1);
  if (!row) throw new AppError('NOT_FOUND', `Flight ${input.id} not found`);
  return toView(row);
}
