/**
 * The bare stacks the benchmarks compare the app with, one per process (`node --import tsx
 * tests/bench/bare-servers.ts <mode>`, PORT, DATABASE_URL, REDIS_URL from the environment). Each is what
 * a competent engineer would write with the same libraries and none of our layers: no request context,
 * no logging, no idempotency, no drizzle.
 *
 * - search-redis: Express + tRPC, one procedure answering from one Redis GET.
 * - search-mysql: Express + tRPC, one procedure running the search's indexed range query with mysql2.
 */
import express from 'express';
import { initTRPC } from '@trpc/server';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import { z } from 'zod';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';

const mode = process.argv[2];
const port = Number(process.env.PORT);
const t = initTRPC.create();
const SearchInput = z.object({ origin: z.string().length(3), destination: z.string().length(3), date: z.iso.date(), passengers: z.number().int().min(1).max(9) });

function searchRedis() {
  const redis = new Redis(process.env.REDIS_URL!);
  const key = process.env.BARE_SEARCH_KEY!;
  return t.router({
    search: t.procedure.input(SearchInput).query(async () => JSON.parse((await redis.get(key)) ?? 'null') as unknown),
  });
}

function searchMysql() {
  const pool = mysql.createPool({ uri: process.env.DATABASE_URL!, connectionLimit: 20, timezone: 'Z' });
  // The bare stack knows Riyadh is UTC+3 all year; the app looks the zone up (from memory).
  return t.router({
    search: t.procedure.input(SearchInput).query(async ({ input }) => {
      const start = new Date(`${input.date}T00:00:00+03:00`);
      const end = new Date(start.getTime() + 86_400_000);
      const [rows] = await pool.query<mysql.RowDataPacket[]>(
        'SELECT id, flight_number, origin, destination, departure_at, arrival_at, price_minor, currency, seats_available FROM flights ' +
          'WHERE origin = ? AND destination = ? AND departure_at >= ? AND departure_at < ? AND seats_available >= ? ORDER BY departure_at, id',
        [input.origin, input.destination, start, end, input.passengers],
      );
      return {
        flights: rows.map((r) => ({
          id: r.id as number,
          flightNumber: r.flight_number as string,
          origin: r.origin as string,
          destination: r.destination as string,
          departureAt: (r.departure_at as Date).toISOString(),
          arrivalAt: (r.arrival_at as Date).toISOString(),
          priceMinor: Number(r.price_minor),
          currency: r.currency as string,
          seatsAvailable: r.seats_available as number,
        })),
      };
    }),
  });
}

const routers = { 'search-redis': searchRedis, 'search-mysql': searchMysql } as const;
const build = routers[mode as keyof typeof routers];
if (!build) throw new Error(`unknown mode ${mode}; one of ${Object.keys(routers).join(', ')}`);

const app = express();
// Mounted as flights.search, so the load generator sends the very same request to the app and the baseline.
app.use('/trpc', createExpressMiddleware({ router: t.router({ flights: build() }) }));
app.get('/health', (_req, res) => {
  res.json({ ok: true });
});
const server = app.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
