import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { TestContext } from './harness.js';
import { createUser } from './users.js';
import { createFlight } from './flights.js';
import { bookings, financialLedger, stripeEvents } from '../../server/db/schema/index.js';

/** A fresh idempotency key. */
export const newKey = () => `k-${randomUUID()}`;

/** `n` (1-9) passengers with valid, distinct names: `Layla Hassan A`, `Layla Hassan B`, ... */
export const passengers = (n: number, lastName = 'Hassan') =>
  Array.from({ length: n }, (_, i) => ({ firstName: 'Layla', lastName: `${lastName} ${'ABCDEFGHI'[i]}` }));

/** The in-process app (harness.ts) or the API in its own process (e2e.ts): a database and a tRPC client. */
type AppUnderTest = Pick<TestContext, 'db' | 'trpc'>;

/** A traveller with a pending booking and an open Checkout Session, all through the real API. */
export async function bookAndOpenCheckout(t: AppUnderTest, opts: { seats?: number; passengers?: number; priceMinor?: number; flightId?: number } = {}) {
  const user = await createUser(t.db);
  const flightId = opts.flightId ?? (await createFlight(t.db, { seats: opts.seats ?? 50, priceMinor: opts.priceMinor ?? 45_000 }));
  const client = t.trpc(user.accessToken);
  const booking = await client.bookings.create.mutate({
    flightId,
    passengers: passengers(opts.passengers ?? 2),
    idempotencyKey: newKey(),
  });
  const session = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: newKey() });
  return { user, client, flightId, booking, sessionId: session.sessionId };
}

export async function bookingRow(t: Pick<TestContext, 'db'>, id: number) {
  const [row] = await t.db.select().from(bookings).where(eq(bookings.id, id));
  return row!;
}

export async function ledgerFor(t: Pick<TestContext, 'db'>, bookingId: number) {
  return t.db.select().from(financialLedger).where(eq(financialLedger.bookingId, bookingId)).orderBy(financialLedger.id);
}

export async function eventRow(t: Pick<TestContext, 'db'>, id: string) {
  const [row] = await t.db.select().from(stripeEvents).where(eq(stripeEvents.id, id));
  return row;
}

export function shuffle<T>(items: T[], seed = 7): T[] {
  const a = [...items];
  let s = seed;
  for (let i = a.length - 1; i > 0; i--) {
    s = (s * 16807) % 2147483647;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
