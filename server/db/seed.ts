import type { Db } from './types.js';
import { airports, flights } from './schema/index.js';
import { AIRPORTS, CARRIER_BY_COUNTRY, ROUTES } from './seed-data.js';
import { localMidnightUtc } from '../lib/time.js';

/** Small deterministic PRNG so the same day always gets the same timetable. */
function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashString(s: string): number {
  let h = 2166136261;
  for (const c of s) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

export interface SeedOptions {
  /** First local date to seed, YYYY-MM-DD (default: today in UTC). */
  startDate?: string;
  days?: number;
}

/**
 * Airports plus a timetable for `days` days. Every flight is a pure function of (route, date, slot),
 * and inserts ignore existing (flight_number, departure_at) pairs, so running it twice changes nothing.
 */
export async function seed(
  db: Db,
  opts: SeedOptions = {},
): Promise<{ airports: number; flightsInserted: number; /** Every route and origin-local date seeded, for the search cache. */ routeDays: { origin: string; destination: string; date: string }[] }> {
  const startDate = opts.startDate ?? new Date().toISOString().slice(0, 10);
  const days = opts.days ?? 60;
  await db.insert(airports).ignore().values([...AIRPORTS]);
  const tzOf = new Map<string, string>(AIRPORTS.map((a) => [a.iata, a.timeZone]));
  const countryOf = new Map<string, string>(AIRPORTS.map((a) => [a.iata, a.country]));

  const rows: (typeof flights.$inferInsert)[] = [];
  const routeDays: { origin: string; destination: string; date: string }[] = [];
  ROUTES.forEach(([a, b, minutes, perDay, fare], routeIndex) => {
    for (const [origin, destination, direction] of [[a, b, 0], [b, a, 1]] as const) {
      const carrier = CARRIER_BY_COUNTRY[countryOf.get(origin)!] ?? 'SV';
      for (let day = 0; day < days; day++) {
        const date = new Date(Date.parse(`${startDate}T00:00:00Z`) + day * 86_400_000).toISOString().slice(0, 10);
        const midnight = localMidnightUtc(date, tzOf.get(origin)!);
        const rand = mulberry32(hashString(`${origin}-${destination}-${date}`));
        routeDays.push({ origin, destination, date });
        for (let slot = 0; slot < perDay; slot++) {
          // Departures spread from 00:30 to 23:00 local, on 5-minute marks.
          const window = (22.5 * 60) / perDay;
          const localMinutes = 30 + Math.floor((slot * window + rand() * (window - 30)) / 5) * 5;
          const departureAt = new Date(midnight.getTime() + localMinutes * 60_000);
          const arrivalAt = new Date(departureAt.getTime() + (minutes + Math.floor(rand() * 3) * 5) * 60_000);
          const fareRiyals = Math.round(fare * (0.85 + rand() * 0.5));
          const seatsTotal = [120, 150, 174, 186, 220][Math.floor(rand() * 5)]!;
          const flightNumber = `${carrier}${String(100 + routeIndex * 20 + direction * 10 + slot).padStart(3, '0')}`;
          rows.push({
            flightNumber,
            origin,
            destination,
            departureAt,
            arrivalAt,
            priceMinor: fareRiyals * 100,
            currency: 'SAR',
            seatsTotal,
            seatsAvailable: seatsTotal,
          });
        }
      }
    }
  });

  let flightsInserted = 0;
  for (let i = 0; i < rows.length; i += 500) {
    // IGNORE, not ON DUPLICATE KEY UPDATE: drizzle would add updated_at to the update and touch every row.
    const [res] = await db.insert(flights).ignore().values(rows.slice(i, i + 500));
    flightsInserted += res.affectedRows;
  }
  return { airports: AIRPORTS.length, flightsInserted, routeDays };
}
