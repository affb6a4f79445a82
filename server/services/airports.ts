import type { Db } from '../db/types.js';
import { airports } from '../db/schema/index.js';
import { logger } from '../lib/logger.js';

export type Airport = typeof airports.$inferSelect;

/**
 * Airports are reference data: a few dozen rows that change when a route opens, read by every search.
 * Each process keeps them in memory and reloads them at most once per REFRESH_MS, so a search needs no
 * round trip for them, and an airport added to the table is searchable within that time.
 */
const REFRESH_MS = 60_000;

interface AirportTable {
  byIata: Map<string, Airport>;
  loadedAt: number;
  loading: Promise<Map<string, Airport>> | null;
}

// Per database handle: tests run several databases in one process.
const tables = new WeakMap<Db, AirportTable>();

async function load(db: Db, table: AirportTable): Promise<Map<string, Airport>> {
  // Single-flight: a burst of searches after the refresh is due costs one query, not one each.
  table.loading ??= db
    .select()
    .from(airports)
    .then((rows) => {
      table.byIata = new Map(rows.map((a) => [a.iata, a]));
      table.loadedAt = performance.now();
      return table.byIata;
    })
    .finally(() => {
      table.loading = null;
    });
  return table.loading;
}

/** Every airport by IATA code, from memory when loaded less than REFRESH_MS ago. */
export async function airportsByIata(db: Db): Promise<Map<string, Airport>> {
  let table = tables.get(db);
  if (!table) {
    table = { byIata: new Map(), loadedAt: -Infinity, loading: null };
    tables.set(db, table);
  }
  if (performance.now() - table.loadedAt < REFRESH_MS) return table.byIata;
  // Stale but present: answer from memory and refresh in the background; empty: wait for the load.
  if (table.byIata.size) {
    void load(db, table).catch((err: unknown) => logger.warn({ err }, 'could not refresh the airports; still using the ones loaded before'));
    return table.byIata;
  }
  return load(db, table);
}
