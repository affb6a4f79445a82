import { describe, expect, it } from 'vitest';
import { and, count, eq } from 'drizzle-orm';
import { eventually } from '../support/e2e.js';
import { uniqueEmail } from '../support/users.js';
import { bookings, financialLedger, flights, outbox } from '../../server/db/schema/index.js';
import { useE2E } from '../support/lifecycle.js';
import { total } from '../support/metrics.js';

const e = useE2E({ seedDays: 3 });

async function rest(path: string, body: unknown, token?: string) {
  const res = await fetch(`${e.api.baseUrl}/api/mobile/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe('e2e 1: a booking from search to confirmation', () => {
  it('register and log in over REST, search and book over tRPC, pay at Stripe: confirmed, one charge, seats taken, one confirmation job', async () => {
    const email = uniqueEmail();
    const registered = await rest('/auth/register', { email, password: 'a long enough password', name: 'Reem Al-Otaibi' });
    expect(registered.status).toBe(201);
    const login = await rest('/auth/login', { email, password: 'a long enough password' });
    expect(login.status).toBe(200);
    const client = e.trpc(login.body.accessToken);

    const date = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const { flights: found } = await client.flights.search.query({ origin: 'RUH', destination: 'JED', date, passengers: 2 });
    expect(found.length).toBeGreaterThan(0);
    const flight = found[0]!;

    const booking = await client.bookings.create.mutate({
      flightId: flight.id,
      passengers: [{ firstName: 'Reem', lastName: 'Al-Otaibi' }, { firstName: 'فهد', lastName: 'العتيبي' }],
      idempotencyKey: `e2e-1-${email}`,
    });
    expect(booking).toMatchObject({ status: 'pending_payment', totalMinor: flight.priceMinor * 2, currency: 'SAR' });
    const checkout = await client.payments.createCheckoutSession.mutate({ bookingId: booking.id, idempotencyKey: `e2e-1-pay-${email}` });
    expect(checkout.url).toBe(`${e.fakeStripe.publicUrl}/c/pay/${checkout.sessionId}`); // the emulator's hosted page

    // The traveller pays on Stripe's page; Stripe delivers its events to the running API.
    e.fakeStripe.setWebhookUrl(`${e.api.baseUrl}/webhooks/stripe`, true);
    e.fakeStripe.completeSession(checkout.sessionId);
    await e.fakeStripe.flush();
    expect(e.fakeStripe.deliveries.map((d) => d.status)).toEqual([200, 200, 200]);

    const confirmed = await eventually(async () => {
      const [row] = await e.db.select().from(bookings).where(eq(bookings.id, booking.id));
      return row?.status === 'confirmed' ? row : null;
    });
    expect(confirmed.paymentStatus).toBe('paid');
    const ledger = await e.db.select().from(financialLedger).where(eq(financialLedger.bookingId, booking.id));
    expect(ledger).toMatchObject([{ entryType: 'charge', amountMinor: booking.totalMinor, currency: 'SAR' }]);
    const [after] = await e.db.select().from(flights).where(eq(flights.id, flight.id));
    expect(after!.seatsAvailable).toBe(flight.seatsAvailable - 2);
    const [jobs] = await e.db
      .select({ n: count() })
      .from(outbox)
      .where(and(eq(outbox.topic, 'send_booking_confirmation'), eq(outbox.dedupeKey, `send_booking_confirmation:booking:${booking.id}`)));
    expect(jobs!.n).toBe(1);
    expect((await client.bookings.byId.query({ id: booking.id })).status).toBe('confirmed');

    // What operations see of it: the API process's own counters, scraped over loopback.
    const metrics = await (await fetch(`${e.api.baseUrl}/metrics`)).text();
    expect(total(metrics, 'stripe_webhook_events_total')).toBe(3);
    expect(total(metrics, 'stripe_webhook_events_total', { outcome: 'failed_retryable' }) + total(metrics, 'stripe_webhook_events_total', { outcome: 'failed_permanent' })).toBe(0);
    for (const type of ['charge.succeeded', 'payment_intent.succeeded', 'checkout.session.completed']) {
      expect(total(metrics, 'stripe_webhook_events_total', { type })).toBe(1);
    }
    expect(total(metrics, 'stripe_webhook_events_total', { outcome: 'processed' })).toBeGreaterThanOrEqual(1);
    expect(total(metrics, 'bookings_created_total')).toBe(1);
    expect(total(metrics, 'booking_transitions_total', { from: 'pending_payment', to: 'confirmed' })).toBe(1);
    expect(total(metrics, 'ledger_entries_total', { kind: 'charge' })).toBe(1);
    expect(total(metrics, 'ledger_entries_total')).toBe(1);
    expect(total(metrics, 'http_request_duration_seconds_count', { route: '/trpc/bookings.create', status: '200' })).toBe(1);
    expect(total(metrics, 'http_request_duration_seconds_count', { route: '/webhooks/stripe', status: '200' })).toBe(3);
  });
});
