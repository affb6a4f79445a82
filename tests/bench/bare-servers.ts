/**
 * The bare stacks the benchmarks compare the app with, one per process (`node --import tsx
 * tests/bench/bare-servers.ts <mode>`, PORT, DATABASE_URL, REDIS_URL from the environment). Each is what
 * a competent engineer would write with the same libraries and none of our layers: no request context,
 * no logging, no idempotency, no drizzle.
 *
 * - search-redis: Express + tRPC, one procedure answering from one Redis GET.
 * - search-mysql: Express + tRPC, one procedure running the search's indexed range query with mysql2.
 * - bookings: Express + tRPC, bookings.create running the statements our bookings.create sends, in the
 *   same order, with mysql2: claim the idempotency key, then one transaction (read the flight, take the
 *   seats, check the traveller's hold cap, insert the booking, its passengers and its audit row,
 *   complete the key). The caller's user id
 *   comes in a header: no JWT, no zod beyond the input, no drizzle, no logging.
 * - webhooks: Express + the Stripe SDK's signature check + mysql2, POST /webhooks/stripe: the inserts and
 *   updates our handler makes for a payment's events (the event row, its lock, the booking and flight
 *   locks, the charge in the ledger, the payment, the booking confirmed with its audit row and its
 *   confirmation job, the event marked processed). The booking comes from the event's metadata or the
 *   payment row; a charge seen before either is marked processed without more (ours asks Stripe).
 */
import express from 'express';
import { initTRPC } from '@trpc/server';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import { z } from 'zod';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import Stripe from 'stripe';
import { randomUUID } from 'node:crypto';

const mode = process.argv[2];
const port = Number(process.env.PORT);
const t = initTRPC.context<{ userId: number }>().create();
const SearchInput = z.object({ origin: z.string().length(3), destination: z.string().length(3), date: z.iso.date(), passengers: z.number().int().min(1).max(9) });

function searchRedis() {
  const redis = new Redis(process.env.REDIS_URL!);
  const key = process.env.BARE_SEARCH_KEY!;
  return t.router({
    flights: t.router({ search: t.procedure.input(SearchInput).query(async () => JSON.parse((await redis.get(key)) ?? 'null') as unknown) }),
  });
}

function searchMysql() {
  const pool = mysql.createPool({ uri: process.env.DATABASE_URL!, connectionLimit: 20, timezone: 'Z' });
  // The bare stack knows Riyadh is UTC+3 all year; the app looks the zone up (from memory).
  const search = t.procedure.input(SearchInput).query(async ({ input }) => {
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
  });
  return t.router({ flights: t.router({ search }) });
}

const BookingInput = z.object({
  flightId: z.number().int().positive(),
  passengers: z.array(z.object({ firstName: z.string().min(1).max(64), lastName: z.string().min(1).max(64) })).min(1).max(9),
  idempotencyKey: z.string().min(8).max(255),
});

function bookings() {
  const pool = mysql.createPool({ uri: process.env.DATABASE_URL!, connectionLimit: 20, timezone: 'Z', flags: ['-FOUND_ROWS'] });
  const create = t.procedure.input(BookingInput).mutation(async ({ ctx, input }) => {
    const now = new Date();
    const principal = `user:${ctx.userId}`;
    const lockedUntil = new Date(now.getTime() + 30_000);
    const [claim] = await pool.query<mysql.ResultSetHeader>(
      'INSERT IGNORE INTO idempotency_requests (scope, principal, idempotency_key, fingerprint, status, locked_until, expires_at) VALUES (?,?,?,?,?,?,?)',
      ['bookings.create', principal, input.idempotencyKey, randomUUID(), 'started', lockedUntil, new Date(now.getTime() + 86_400_000)],
    );
    if (claim.affectedRows !== 1) throw new Error('key in use');
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      const [[flight]] = await conn.query<mysql.RowDataPacket[]>('SELECT * FROM flights WHERE id = ?', [input.flightId]);
      if (!flight || (flight.departure_at as Date) <= now) throw new Error('not bookable');
      const count = input.passengers.length;
      const [upd] = await conn.query<mysql.ResultSetHeader>('UPDATE flights SET seats_available = seats_available - ? WHERE id = ? AND seats_available >= ?', [count, input.flightId, count]);
      if (upd.affectedRows !== 1) throw new Error('sold out');
      // The hold cap: the traveller's row locked, their unpaid holds counted.
      await conn.query('SELECT id FROM users WHERE id = ? FOR UPDATE', [ctx.userId]);
      const [[held]] = await conn.query<mysql.RowDataPacket[]>(
        "SELECT COUNT(*) AS n, COALESCE(SUM(seats_held), 0) AS seats FROM bookings WHERE user_id = ? AND status = 'pending_payment' AND seats_held > 0 AND (hold_expires_at > ? OR payment_status = 'processing')",
        [ctx.userId, now],
      );
      if (Number(held!.n) >= 3 || Number(held!.seats) + count > 9) throw new Error('too many holds');
      const holdExpiresAt = new Date(now.getTime() + 1_800_000);
      const total = Number(flight.price_minor) * count;
      const [ins] = await conn.query<mysql.ResultSetHeader>(
        "INSERT INTO bookings (user_id, flight_id, passenger_count, total_minor, currency, status, payment_status, seats_held, hold_expires_at, created_at) VALUES (?,?,?,?,?,'pending_payment','unpaid',?,?,?)",
        [ctx.userId, input.flightId, count, total, flight.currency, count, holdExpiresAt, now],
      );
      await conn.query('INSERT INTO booking_passengers (booking_id, position, first_name, last_name) VALUES ?', [input.passengers.map((p, i) => [ins.insertId, i, p.firstName, p.lastName])]);
      await conn.query("INSERT INTO booking_transitions (booking_id, from_status, to_status, reason, actor) VALUES (?,NULL,'pending_payment','booking created',?)", [ins.insertId, principal]);
      const response = { id: ins.insertId, status: 'pending_payment', flightId: input.flightId, passengers: input.passengers, totalMinor: total, holdExpiresAt: holdExpiresAt.toISOString() };
      await conn.query("UPDATE idempotency_requests SET status = 'completed', response = ? WHERE id = ? AND status = 'started' AND locked_until = ?", [JSON.stringify(response), claim.insertId, lockedUntil]);
      await conn.commit();
      return response;
    } catch (err) {
      await conn.rollback();
      throw err;
    } finally {
      conn.release();
    }
  });
  return t.router({ bookings: t.router({ create }) });
}

type PaymentObject = { id: string; object: string; payment_intent?: string | null; metadata?: Record<string, string> | null; amount?: number; amount_total?: number | null };

function webhooks(app: express.Express) {
  const pool = mysql.createPool({ uri: process.env.DATABASE_URL!, connectionLimit: 20, timezone: 'Z', flags: ['-FOUND_ROWS'] });
  const stripe = new Stripe('sk_test_bare');
  app.post('/webhooks/stripe', express.raw({ type: 'application/json' }), async (req, res) => {
    let event: Stripe.Event;
    try {
      event = stripe.webhooks.constructEvent(req.body as Buffer, String(req.headers['stripe-signature']), process.env.STRIPE_WEBHOOK_SECRET!);
    } catch {
      res.status(400).end();
      return;
    }
    const obj = event.data.object as PaymentObject;
    const pi = obj.object === 'payment_intent' ? obj.id : (obj.payment_intent ?? null);
    await pool.query('INSERT IGNORE INTO stripe_events (id, type, api_version, stripe_created_at, payload) VALUES (?,?,?,?,?)', [event.id, event.type, event.api_version, new Date(event.created * 1000), JSON.stringify(event)]);
    const [[seen]] = await pool.query<mysql.RowDataPacket[]>('SELECT processed FROM stripe_events WHERE id = ?', [event.id]);
    if (seen?.processed) {
      res.json({ received: true });
      return;
    }
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      const [[row]] = await conn.query<mysql.RowDataPacket[]>('SELECT processed FROM stripe_events WHERE id = ? FOR UPDATE', [event.id]);
      if (!row?.processed) {
        let bookingId = Number(obj.metadata?.bookingId) || undefined;
        if (!bookingId && pi) bookingId = ((await conn.query<mysql.RowDataPacket[]>('SELECT booking_id FROM payments WHERE stripe_payment_intent_id = ?', [pi]))[0][0]?.booking_id as number | undefined);
        const [[booking]] = bookingId ? await conn.query<mysql.RowDataPacket[]>('SELECT * FROM bookings WHERE id = ? FOR UPDATE', [bookingId]) : [[undefined]];
        if (booking && pi) {
          await conn.query('SELECT id FROM flights WHERE id = ? FOR UPDATE', [booking.flight_id]);
          await conn.query(
            "INSERT IGNORE INTO financial_ledger (entry_type, movement_key, booking_id, user_id, amount_minor, currency, stripe_payment_intent_id, stripe_event_id) VALUES ('charge',?,?,?,?,?,?,?)",
            [`charge:${pi}`, booking.id, booking.user_id, booking.total_minor, booking.currency, pi, event.id],
          );
          await conn.query("UPDATE payments SET stripe_payment_intent_id = ?, status = 'succeeded' WHERE booking_id = ?", [pi, booking.id]);
          const [upd] = await conn.query<mysql.ResultSetHeader>(
            "UPDATE bookings SET status = 'confirmed', payment_status = 'paid', hold_expires_at = NULL, stripe_payment_intent_id = ? WHERE id = ? AND status = 'pending_payment'",
            [pi, booking.id],
          );
          if (upd.affectedRows === 1) {
            await conn.query("INSERT INTO booking_transitions (booking_id, from_status, to_status, reason, actor) VALUES (?,'pending_payment','confirmed','payment succeeded',?)", [booking.id, `stripe:${event.id}`]);
            await conn.query("INSERT IGNORE INTO outbox (topic, dedupe_key, payload, available_at) VALUES ('send_booking_confirmation',?,?,?)", [`booking:${booking.id}`, JSON.stringify({ bookingId: booking.id }), new Date()]);
          }
        }
        await conn.query('UPDATE stripe_events SET processed = 1, processed_at = ? WHERE id = ?', [new Date(), event.id]);
      }
      await conn.commit();
      res.json({ received: true });
    } catch {
      await conn.rollback();
      res.status(500).end();
    } finally {
      conn.release();
    }
  });
}

const routers = { 'search-redis': searchRedis, 'search-mysql': searchMysql, bookings } as const;
const app = express();
if (mode === 'webhooks') webhooks(app);
const build = routers[mode as keyof typeof routers];
if (!build && mode !== 'webhooks') throw new Error(`unknown mode ${mode}; one of ${[...Object.keys(routers), 'webhooks'].join(', ')}`);
app.use(express.json());
// At the app's paths (flights.search, bookings.create): the load generator sends the app and the baseline the same requests.
if (build) app.use('/trpc', createExpressMiddleware({ router: build(), createContext: ({ req }) => ({ userId: Number(req.headers['x-user-id']) }) }));
app.get('/health/live', (_req, res) => {
  res.json({ ok: true });
});
const server = app.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
