import { describe, expect, it } from 'vitest';
import { and, count, eq, sql } from 'drizzle-orm';
import request from 'supertest';
import Stripe from 'stripe';
import { bookAndOpenCheckout, bookingRow, eventRow, ledgerFor, newKey, shuffle } from '../support/booking-flow.js';
import { seatsAvailable } from '../support/flights.js';
import { bookings, bookingTransitions, financialLedger, outbox, stripeEvents } from '../../server/db/schema/index.js';
import { inventoryViolations } from '../../server/services/inventory.js';
import { expireLapsedHolds } from '../../server/services/bookings.js';
import { enqueueOutboxRows } from '../../server/jobs/dispatcher.js';
import { outboxJobId } from '../../server/jobs/queues.js';
import { outboxSettled } from '../support/jobs.js';
import { eventually } from '../support/e2e.js';
import { env } from '../../server/env.js';
import { chargeAt, eventObjectId, paymentIntentAt } from '../support/stripe-state.js';
import { useTestApp } from '../support/lifecycle.js';

// The worker's queues run in-process: refunds and session expiries reach Stripe as they would in production.
const t = useTestApp({ workers: true });

async function countRows(table: typeof stripeEvents | typeof financialLedger | typeof outbox) {
  const [r] = await t.db.select({ n: count() }).from(table);
  return r!.n;
}

async function confirmations(bookingId: number) {
  const rows = await t.db.select().from(outbox).where(and(eq(outbox.topic, 'send_booking_confirmation'), eq(outbox.dedupeKey, `send_booking_confirmation:booking:${bookingId}`)));
  return rows.length;
}

async function transitionsTo(bookingId: number, to: string) {
  const rows = await t.db.select().from(bookingTransitions).where(and(eq(bookingTransitions.bookingId, bookingId), sql`${bookingTransitions.toStatus} = ${to}`));
  return rows.length;
}

describe('POST /webhooks/stripe rejects what Stripe did not sign, writing nothing', () => {
  const event = () => ({ id: `evt_reject_${Math.random().toString(36).slice(2)}`, object: 'event', type: 'payment_intent.succeeded', created: Math.floor(Date.now() / 1000), data: { object: { id: 'pi_x', object: 'payment_intent' } } });

  it.each([
    ['no Stripe-Signature header', (p: string) => ({ payload: p, header: undefined }), 400],
    ['a signature made with another secret', (p: string) => ({ payload: p, header: Stripe.webhooks.generateTestHeaderString({ payload: p, secret: 'whsec_someoneelse1234567890' }) }), 400],
    ['a tampered body', (p: string) => ({ payload: p.replace('payment_intent.succeeded', 'charge.refunded'), header: Stripe.webhooks.generateTestHeaderString({ payload: p, secret: env.STRIPE_WEBHOOK_SECRET }) }), 400],
    ['a stale timestamp (older than 300 s)', (p: string) => ({ payload: p, header: Stripe.webhooks.generateTestHeaderString({ payload: p, secret: env.STRIPE_WEBHOOK_SECRET, timestamp: Math.floor(Date.now() / 1000) - 301 }) }), 400],
    ['a garbage signature header', (p: string) => ({ payload: p, header: 't=abc,v1=zzz' }), 400],
    ['a signed body that is not an event', () => { const p = JSON.stringify({ hello: 'world' }); return { payload: p, header: Stripe.webhooks.generateTestHeaderString({ payload: p, secret: env.STRIPE_WEBHOOK_SECRET }) }; }, 400],
    ['a signed body that is not JSON', () => { const p = 'not json at all'; return { payload: p, header: Stripe.webhooks.generateTestHeaderString({ payload: p, secret: env.STRIPE_WEBHOOK_SECRET }) }; }, 400],
  ])('%s -> %s', async (_name, make, status) => {
    const before = await countRows(stripeEvents);
    const { payload, header } = make(JSON.stringify(event()));
    const req = request(t.baseUrl).post('/webhooks/stripe').set('Content-Type', 'application/json');
    const res = await (header ? req.set('Stripe-Signature', header) : req).send(payload);
    expect(res.status).toBe(status);
    expect(res.body.error).toMatchObject({ code: expect.any(String), message: expect.any(String), requestId: expect.any(String) });
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/);
    expect(await countRows(stripeEvents)).toBe(before);
  });

  it('a body over the size limit -> 413, nothing stored', async () => {
    const before = await countRows(stripeEvents);
    const big = JSON.stringify({ ...event(), padding: 'x'.repeat(200_000) });
    const header = Stripe.webhooks.generateTestHeaderString({ payload: big, secret: env.STRIPE_WEBHOOK_SECRET });
    const res = await request(t.baseUrl).post('/webhooks/stripe').set('Content-Type', 'application/json').set('Stripe-Signature', header).send(big);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await countRows(stripeEvents)).toBe(before);
  });

  it('an unhandled but signed event type is stored, marked processed and answered 200', async () => {
    const e = { ...event(), type: 'customer.created', data: { object: { id: 'cus_1', object: 'customer' } } };
    const res = await t.fakeStripe.deliver(e);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ received: true });
    expect(await eventRow(t, e.id)).toMatchObject({ processed: true, retryCount: 0 });
  });
});

describe('a payment confirms its booking exactly once', () => {
  it('checkout.session.completed (paid) confirms, books one charge and records one confirmation job', async () => {
    const { booking, sessionId, flightId } = await bookAndOpenCheckout(t, { passengers: 2, priceMinor: 45_000 });
    const events = t.fakeStripe.completeSession(sessionId);
    const completed = events.find((e) => e.type === 'checkout.session.completed')!;
    expect((await t.fakeStripe.deliver(completed)).status).toBe(200);
    const row = await bookingRow(t, booking.id);
    expect(row).toMatchObject({ status: 'confirmed', paymentStatus: 'paid', holdExpiresAt: null, seatsHeld: 2 });
    expect(row.stripePaymentIntentId).toMatch(/^pi_/);
    const ledger = await ledgerFor(t, booking.id);
    expect(ledger).toMatchObject([{ entryType: 'charge', amountMinor: 90_000, currency: 'SAR', stripePaymentIntentId: row.stripePaymentIntentId, stripeEventId: completed.id }]);
    // The session event names no charge; the entry still links it (read from Stripe before the transaction).
    expect(ledger[0]!.stripeChargeId).toBe(paymentIntentAt(t.fakeStripe, row.stripePaymentIntentId).latest_charge);
    expect(ledger[0]!.stripeChargeId).toMatch(/^ch_/);
    expect(await confirmations(booking.id)).toBe(1);
    expect(await seatsAvailable(t.db, flightId)).toBe(48);
    expect(await eventRow(t, completed.id)).toMatchObject({ processed: true, retryCount: 0 });
  });

  it('payment_intent.succeeded before checkout.session.completed confirms; the later session event changes nothing', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    const events = t.fakeStripe.completeSession(sessionId);
    const pi = events.find((e) => e.type === 'payment_intent.succeeded')!;
    const completed = events.find((e) => e.type === 'checkout.session.completed')!;
    expect((await t.fakeStripe.deliver(pi)).status).toBe(200);
    expect((await bookingRow(t, booking.id)).status).toBe('confirmed');
    expect((await t.fakeStripe.deliver(completed)).status).toBe(200);
    expect(await ledgerFor(t, booking.id)).toHaveLength(1);
    expect((await ledgerFor(t, booking.id))[0]!.stripeEventId).toBe(pi.id);
    expect(await transitionsTo(booking.id, 'confirmed')).toBe(1);
    expect(await confirmations(booking.id)).toBe(1);
  });

  it('charge.succeeded alone confirms too, and records the charge id', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    const charge = t.fakeStripe.completeSession(sessionId).find((e) => e.type === 'charge.succeeded')!;
    expect((await t.fakeStripe.deliver(charge)).status).toBe(200);
    expect((await bookingRow(t, booking.id)).status).toBe('confirmed');
    expect((await ledgerFor(t, booking.id))[0]).toMatchObject({ stripeChargeId: charge.data.object.id });
  });

  it('the same event delivered 10 times concurrently is processed once', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    const completed = t.fakeStripe.completeSession(sessionId).find((e) => e.type === 'checkout.session.completed')!;
    const results = await Promise.all(Array.from({ length: 10 }, () => t.fakeStripe.deliver(completed)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(await ledgerFor(t, booking.id)).toHaveLength(1);
    expect(await transitionsTo(booking.id, 'confirmed')).toBe(1);
    expect(await confirmations(booking.id)).toBe(1);
    expect(await eventRow(t, completed.id)).toMatchObject({ processed: true, retryCount: 0 });
  });

  const orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  it.each(orders.map((o) => [o.join(',')]))('the three events of one payment in order %s: one charge entry, one confirmation', async (orderText) => {
    const order = orderText.split(',').map(Number);
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    const events = t.fakeStripe.completeSession(sessionId);
    expect(events.map((e) => e.type).sort()).toEqual(['charge.succeeded', 'checkout.session.completed', 'payment_intent.succeeded']);
    for (const i of order) expect((await t.fakeStripe.deliver(events[i]!)).status).toBe(200);
    expect(await ledgerFor(t, booking.id)).toHaveLength(1);
    expect(await transitionsTo(booking.id, 'confirmed')).toBe(1);
    expect(await confirmations(booking.id)).toBe(1);
  });

  it('all three events, each three times, concurrently and shuffled: one charge entry, one confirmation', async () => {
    const { booking, sessionId, flightId } = await bookAndOpenCheckout(t);
    const events = t.fakeStripe.completeSession(sessionId);
    const deliveries = shuffle([...events, ...events, ...events], booking.id);
    const results = await Promise.all(deliveries.map((e) => t.fakeStripe.deliver(e)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(await ledgerFor(t, booking.id)).toHaveLength(1);
    expect(await transitionsTo(booking.id, 'confirmed')).toBe(1);
    expect(await confirmations(booking.id)).toBe(1);
    expect(await inventoryViolations(t.db, [flightId])).toEqual([]);
  });
});

describe('failures', () => {
  it('a failure inside the transaction leaves no partial change, processed=false, retry_count=1, a 500; redelivery then succeeds', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    const completed = t.fakeStripe.completeSession(sessionId).find((e) => e.type === 'checkout.session.completed')!;
    // The database itself refuses the ledger write: no flag in production code.
    await t.db.execute(sql.raw(`CREATE TRIGGER trg_test_refuse_ledger BEFORE INSERT ON financial_ledger FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'`));
    try {
      const res = await t.fakeStripe.deliver(completed);
      expect(res.status).toBe(500);
      expect(JSON.stringify(JSON.parse(res.body))).not.toMatch(/injected failure|financial_ledger/);
      const row = await bookingRow(t, booking.id);
      expect(row.status).toBe('pending_payment');
      expect(row.paymentStatus).toBe('unpaid');
      expect(await ledgerFor(t, booking.id)).toHaveLength(0);
      expect(await confirmations(booking.id)).toBe(0);
      expect(await transitionsTo(booking.id, 'confirmed')).toBe(0);
      expect(await eventRow(t, completed.id)).toMatchObject({ processed: false, retryCount: 1, lastError: expect.stringMatching(/injected failure/) });
    } finally {
      await t.db.execute(sql.raw('DROP TRIGGER IF EXISTS trg_test_refuse_ledger'));
    }
    expect((await t.fakeStripe.deliver(completed)).status).toBe(200);
    expect((await bookingRow(t, booking.id)).status).toBe('confirmed');
    expect(await ledgerFor(t, booking.id)).toHaveLength(1);
    expect(await eventRow(t, completed.id)).toMatchObject({ processed: true, retryCount: 1 });
  });

  it('an event naming no booking is recorded, flagged for attention, and answered 200', async () => {
    const { sessionId } = await bookAndOpenCheckout(t);
    const pi = t.fakeStripe.completeSession(sessionId).find((e) => e.type === 'payment_intent.succeeded')!;
    const forged = structuredClone(pi);
    forged.id = `${pi.id}_x`;
    forged.data.object.metadata = { bookingId: '987654321' };
    expect((await t.fakeStripe.deliver(forged)).status).toBe(200);
    expect(await eventRow(t, forged.id)).toMatchObject({ processed: false, needsAttention: true, retryCount: 1, lastError: expect.stringMatching(/names no booking/) });
  });

  it('a session event naming a booking the session was not opened for is flagged and confirms nothing', async () => {
    const victim = await bookAndOpenCheckout(t);
    const other = await bookAndOpenCheckout(t);
    const completed = t.fakeStripe.completeSession(other.sessionId).find((e) => e.type === 'checkout.session.completed')!;
    const crossed = structuredClone(completed);
    crossed.id = `${completed.id}_crossed`;
    crossed.data.object.metadata = { bookingId: String(victim.booking.id) };
    crossed.data.object.client_reference_id = String(victim.booking.id);
    expect((await t.fakeStripe.deliver(crossed)).status).toBe(200);
    expect(await eventRow(t, crossed.id)).toMatchObject({ processed: false, needsAttention: true, lastError: expect.stringMatching(/was not opened for booking/) });
    expect((await bookingRow(t, victim.booking.id)).status).toBe('pending_payment');
    expect(await ledgerFor(t, victim.booking.id)).toHaveLength(0);
  });

  it('an amount that does not match the booking is answered 200, refunded and flagged, and confirms nothing (more in money-back.test.ts)', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    const pi = t.fakeStripe.completeSession(sessionId).find((e) => e.type === 'payment_intent.succeeded')!;
    const tampered = structuredClone(pi);
    tampered.id = `${pi.id}_amount`;
    tampered.data.object.amount_received = 100;
    tampered.data.object.amount = 100;
    expect((await t.fakeStripe.deliver(tampered)).status).toBe(200);
    expect(await eventRow(t, tampered.id)).toMatchObject({ processed: true, needsAttention: false });
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'failed', needsAttention: true, attentionReason: expect.stringMatching(/does not match/) });
    expect(await ledgerFor(t, booking.id)).toMatchObject([{ entryType: 'charge', amountMinor: 100 }]);
    expect(await t.db.select().from(outbox).where(eq(outbox.dedupeKey, `stripe_refund:payment_intent:${pi.data.object.id}`))).toHaveLength(1);
  });
});

describe('other payment outcomes', () => {
  it('a delayed payment: completed(unpaid) waits, async_payment_succeeded confirms', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    const [completed] = t.fakeStripe.completeSession(sessionId, { async: true });
    expect(completed.data.object.payment_status).toBe('unpaid');
    expect((await t.fakeStripe.deliver(completed)).status).toBe(200);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'pending_payment', paymentStatus: 'processing' });
    expect(await ledgerFor(t, booking.id)).toHaveLength(0);
    const later = t.fakeStripe.asyncPaymentSucceeded(sessionId);
    for (const e of shuffle(later)) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'confirmed', paymentStatus: 'paid' });
    expect(await ledgerFor(t, booking.id)).toHaveLength(1);
  });

  it('a delayed payment that fails: the booking fails and its seats go back', async () => {
    const { booking, sessionId, flightId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 3 });
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(sessionId, { async: true }));
    for (const e of t.fakeStripe.asyncPaymentFailed(sessionId)) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'failed', paymentStatus: 'failed', seatsHeld: 0 });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
    expect(await ledgerFor(t, booking.id)).toHaveLength(0);
  });

  it('a declined card inside an open Checkout page leaves the booking payable', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    for (const e of t.fakeStripe.failPayment(sessionId)) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    expect((await bookingRow(t, booking.id)).status).toBe('pending_payment');
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(sessionId));
    expect((await bookingRow(t, booking.id)).status).toBe('confirmed');
  });

  it('checkout.session.expired at the end of the hold expires the booking and releases its seats once', async () => {
    const { booking, sessionId, flightId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 2 });
    // Stripe expires a session at its expires_at, which is the end of the booking's hold.
    await t.db.update(bookings).set({ holdExpiresAt: new Date(Date.now() - 1000) }).where(eq(bookings.id, booking.id));
    const [expired] = t.fakeStripe.expireSessionNow(sessionId);
    expect((await t.fakeStripe.deliver(expired)).status).toBe(200);
    expect((await t.fakeStripe.deliver(expired)).status).toBe(200);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'expired', seatsHeld: 0 });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
  });

  it('a late payment on an expired booking takes the seats again and confirms', async () => {
    const { booking, sessionId, flightId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 2 });
    // The traveller pays at the last second; our hold expiry runs before Stripe's events arrive.
    const paid = t.fakeStripe.completeSession(sessionId);
    expect(await expireLapsedHolds({ ...t.deps, clock: { now: () => new Date(Date.now() + 48 * 3600_000) } })).toContain(booking.id);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'expired', seatsHeld: 0 });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
    for (const e of paid) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'confirmed', paymentStatus: 'paid', seatsHeld: 2 });
    expect(await seatsAvailable(t.db, flightId)).toBe(8);
    expect(await ledgerFor(t, booking.id)).toHaveLength(1);
    expect(await confirmations(booking.id)).toBe(1);
  });

  it('a late payment on an expired booking whose seats are gone is booked and refunded automatically', async () => {
    const { booking, client, sessionId, flightId } = await bookAndOpenCheckout(t, { seats: 2, passengers: 2 });
    const paid = t.fakeStripe.completeSession(sessionId);
    await client.bookings.cancel.mutate({ id: booking.id, idempotencyKey: `cancel-${booking.id}-late` }); // raced the payment
    await bookAndOpenCheckout(t, { flightId, passengers: 2 }); // someone else takes the seats
    for (const e of paid) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    const row = await bookingRow(t, booking.id);
    expect(row).toMatchObject({ status: 'refund_pending', paymentStatus: 'paid', seatsHeld: 0 });
    expect(await ledgerFor(t, booking.id)).toMatchObject([{ entryType: 'charge', amountMinor: row.totalMinor }]);
    const refunds = await t.db.select().from(outbox).where(eq(outbox.dedupeKey, `stripe_refund:booking:${booking.id}`));
    expect(refunds).toHaveLength(1);
    expect(await inventoryViolations(t.db, [flightId])).toEqual([]);
  });
});

describe('more late and broken cases', () => {
  it('a session closed early (the hold still running) leaves the seats held until the hold lapses', async () => {
    const { booking, sessionId, flightId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 2 });
    for (const e of t.fakeStripe.expireSessionNow(sessionId)) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'pending_payment', seatsHeld: 2 });
    expect(await expireLapsedHolds({ ...t.deps, clock: { now: () => new Date(Date.now() + 3 * 3600_000) } })).toContain(booking.id);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'expired', seatsHeld: 0 });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
  });

  it('a late payment for a flight that has already departed is refunded, not confirmed', async () => {
    const { booking, sessionId, flightId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 1 });
    const paid = t.fakeStripe.completeSession(sessionId);
    expect(await expireLapsedHolds({ ...t.deps, clock: { now: () => new Date(Date.now() + 48 * 3600_000) } })).toContain(booking.id);
    await t.db.execute(sql`UPDATE flights SET departure_at = NOW(3) - INTERVAL 2 HOUR, arrival_at = NOW(3) - INTERVAL 1 HOUR WHERE id = ${flightId}`);
    for (const e of paid) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'refund_pending', seatsHeld: 0 });
    expect(await t.db.select().from(outbox).where(eq(outbox.dedupeKey, `stripe_refund:booking:${booking.id}`))).toHaveLength(1);
  });

  it('an unexplained failure keeps answering 500 for Stripe to retry, and is flagged for a human after 3 tries', async () => {
    const { sessionId } = await bookAndOpenCheckout(t);
    const completed = t.fakeStripe.completeSession(sessionId).find((e) => e.type === 'checkout.session.completed')!;
    await t.db.execute(sql.raw(`CREATE TRIGGER trg_test_refuse_ledger2 BEFORE INSERT ON financial_ledger FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'still broken'`));
    try {
      for (let i = 1; i <= 3; i++) {
        expect((await t.fakeStripe.deliver(completed)).status).toBe(500);
        expect(await eventRow(t, completed.id)).toMatchObject({ processed: false, retryCount: i, needsAttention: i >= 3 });
      }
    } finally {
      await t.db.execute(sql.raw('DROP TRIGGER IF EXISTS trg_test_refuse_ledger2'));
    }
  });
});

describe('second review: payment intents, early refunds, redeliveries, leases', () => {
  it('a payment-intent event whose payment intent did not come from a session we opened is flagged and confirms nothing', async () => {
    const victim = await bookAndOpenCheckout(t);
    const pi = t.fakeStripe.completeSession((await bookAndOpenCheckout(t)).sessionId).find((e) => e.type === 'payment_intent.succeeded')!;
    const foreign = structuredClone(pi);
    foreign.id = `${pi.id}_foreign`;
    foreign.data.object.id = 'pi_from_another_environment';
    foreign.data.object.metadata = { bookingId: String(victim.booking.id) };
    foreign.data.object.amount = foreign.data.object.amount_received = victim.booking.totalMinor;
    expect((await t.fakeStripe.deliver(foreign)).status).toBe(200);
    expect(await eventRow(t, foreign.id)).toMatchObject({ processed: false, needsAttention: true, lastError: expect.stringMatching(/did not come from a session opened for booking/) });
    expect((await bookingRow(t, victim.booking.id)).status).toBe('pending_payment');
    expect(await ledgerFor(t, victim.booking.id)).toHaveLength(0);
  });

  it('a full dashboard refund handled before the payment events still ends the booking refunded', async () => {
    const { booking, sessionId, flightId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 2 });
    const paid = t.fakeStripe.completeSession(sessionId);
    const piId = paid.find((e) => e.type === 'payment_intent.succeeded')!.data.object.id;
    const refunded = t.fakeStripe.refundFromDashboard(piId);
    for (const e of refunded) expect((await t.fakeStripe.deliver(e)).status).toBe(200); // our endpoint saw these first
    for (const e of paid) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'refunded', paymentStatus: 'refunded', seatsHeld: 0 });
    expect((await ledgerFor(t, booking.id)).map((e) => e.entryType).sort()).toEqual(['charge', 'refund']);
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
  });

  it('a redelivery of a processed event is 200 even while Stripe is down', async () => {
    const { paymentIntentId } = await (async () => {
      const f = await bookAndOpenCheckout(t);
      await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(f.sessionId));
      return { paymentIntentId: (await bookingRow(t, f.booking.id)).stripePaymentIntentId! };
    })();
    const chargeRefunded = structuredClone(t.fakeStripe.refundFromDashboard(paymentIntentId, 1_000).find((e) => e.type === 'charge.refunded')!);
    delete chargeRefunded.data.object.refunds; // makes the handler read refunds from Stripe
    expect((await t.fakeStripe.deliver(chargeRefunded)).status).toBe(200);
    t.fakeStripe.setFault({ mode: 'error' });
    try {
      expect((await t.fakeStripe.deliver(chargeRefunded)).status).toBe(200);
    } finally {
      t.fakeStripe.setFault({ mode: 'none' });
    }
  });

  it('a refund we requested that keeps failing is re-requested three times, then left to a human', async () => {
    const flow = await bookAndOpenCheckout(t, { seats: 10, passengers: 1, priceMinor: 30_000 });
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(flow.sessionId));
    const piId = (await bookingRow(t, flow.booking.id)).stripePaymentIntentId!;
    await flow.client.payments.requestRefund.mutate({ bookingId: flow.booking.id, idempotencyKey: newKey() });
    await outboxSettled(t.db, flow.booking.id, ['stripe_refund']);
    for (let round = 0; round < 5; round++) {
      const open = [...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === piId && r.status === 'succeeded');
      if (open.length === 0) break;
      for (const r of open) for (const e of t.fakeStripe.failRefund(r.id)) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
      await outboxSettled(t.db, flow.booking.id, ['stripe_refund']);
    }
    const requested = [...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === piId);
    expect(requested).toHaveLength(4); // the first request and three retries
    expect(await bookingRow(t, flow.booking.id)).toMatchObject({ needsAttention: true, attentionReason: expect.stringMatching(/refund failed 4 times/) });
  });

  it('an outbox row handed to the queue twice (the API and the relay racing) is one BullMQ job, so Stripe is asked once', async () => {
    const flow = await bookAndOpenCheckout(t, { seats: 10, passengers: 1 });
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(flow.sessionId));
    await flow.client.payments.requestRefund.mutate({ bookingId: flow.booking.id, idempotencyKey: newKey() });
    const [row] = await outboxSettled(t.db, flow.booking.id, ['stripe_refund']);
    expect(row).toMatchObject({ status: 'dispatched', attempts: 1, enqueuedAt: expect.any(Date) });
    const job = (await t.queues.stripe.getJob(outboxJobId(row!.id)))!;
    expect(await job.isCompleted()).toBe(true);
    await t.deps.jobs.outboxCommitted([row!.id]);
    await enqueueOutboxRows(t.db, t.queues, [row!]);
    const again = (await t.queues.stripe.getJob(outboxJobId(row!.id)))!;
    expect(again.timestamp).toBe(job.timestamp); // the same job, not a new one
    expect(await t.queues.stripe.getWaitingCount()).toBe(0);
    const posts = t.fakeStripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds' && r.body.payment_intent === (row!.payload as { paymentIntentId: string }).paymentIntentId);
    expect(posts).toHaveLength(1);
  });
});

describe('refunds in the ledger', () => {
  async function confirmedBooking() {
    const flow = await bookAndOpenCheckout(t, { seats: 10, passengers: 2, priceMinor: 50_000 });
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(flow.sessionId));
    const row = await bookingRow(t, flow.booking.id);
    expect(row.status).toBe('confirmed');
    return { ...flow, paymentIntentId: row.stripePaymentIntentId! };
  }

  it('partial refunds book each refund’s own amount; the booking stays confirmed until refunds reach the charge', async () => {
    const { booking, paymentIntentId, flightId } = await confirmedBooking();
    const first = t.fakeStripe.refundFromDashboard(paymentIntentId, 30_000);
    for (const e of first) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    for (const e of first) expect((await t.fakeStripe.deliver(e)).status).toBe(200); // redelivered
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'confirmed', paymentStatus: 'partially_refunded' });
    let refunds = (await ledgerFor(t, booking.id)).filter((e) => e.entryType === 'refund');
    expect(refunds.map((r) => r.amountMinor)).toEqual([30_000]);

    // charge.refunded of the second refund carries the cumulative 100000; only 70000 is new money.
    const second = t.fakeStripe.refundFromDashboard(paymentIntentId);
    const chargeRefunded = second.find((e) => e.type === 'charge.refunded')!;
    expect(chargeRefunded.data.object.amount_refunded).toBe(100_000);
    for (const e of shuffle(second)) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    refunds = (await ledgerFor(t, booking.id)).filter((e) => e.entryType === 'refund');
    expect(refunds.map((r) => r.amountMinor).sort()).toEqual([30_000, 70_000]);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'refunded', paymentStatus: 'refunded', seatsHeld: 0 });
    expect(await seatsAvailable(t.db, flightId)).toBe(10);
  });

  it('a refund we requested that Stripe reports failed gets a reversing entry, flags the booking, and is requested again for its amount', async () => {
    const { booking, client, paymentIntentId } = await confirmedBooking();
    await client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: `refund-${booking.id}-x` });
    const refundId = (await eventually(async () => [...t.fakeStripe.refunds.values()].find((r) => r.payment_intent === paymentIntentId)))!.id;
    for (const e of t.fakeStripe.events.filter((e) => eventObjectId(e) === refundId || (e.type === 'charge.refunded' && e.data.object.payment_intent === paymentIntentId))) {
      expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    }
    expect((await bookingRow(t, booking.id)).status).toBe('refunded');
    // Stripe later says the refund failed: the money is back with us, and still owed to the traveller.
    const [failed] = t.fakeStripe.failRefund(refundId);
    expect((await t.fakeStripe.deliver(failed)).status).toBe(200);
    expect((await t.fakeStripe.deliver(failed)).status).toBe(200); // redelivered: handled once
    expect((await ledgerFor(t, booking.id)).map((e) => e.entryType)).toEqual(['charge', 'refund', 'refund_reversal']);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'refunded', paymentStatus: 'paid', needsAttention: true });
    const retries = await t.db.select().from(outbox).where(eq(outbox.dedupeKey, `stripe_refund:booking:${booking.id}:after:${refundId}`));
    expect(retries).toHaveLength(1);
    expect(retries[0]!.payload).toMatchObject({ amountMinor: 100_000, idempotencySuffix: refundId });

    // The worker asks Stripe again, for exactly that amount; its events settle the booking.
    await outboxSettled(t.db, booking.id, ['stripe_refund']);
    const second = [...t.fakeStripe.refunds.values()].filter((r) => r.payment_intent === paymentIntentId && r.id !== refundId);
    expect(second.map((r) => r.amount)).toEqual([100_000]);
    for (const e of t.fakeStripe.events.filter((e) => eventObjectId(e) === second[0]!.id || (e.type === 'charge.refunded' && e.request?.idempotency_key?.endsWith(refundId)))) {
      expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    }
    expect((await ledgerFor(t, booking.id)).map((e) => e.entryType)).toEqual(['charge', 'refund', 'refund_reversal', 'refund']);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'refunded', paymentStatus: 'refunded' });
  });

  it('a partial refund made in the dashboard that fails is flagged and reversed, never re-requested by us', async () => {
    const { booking, paymentIntentId } = await confirmedBooking();
    const created = t.fakeStripe.refundFromDashboard(paymentIntentId, 10_000);
    for (const e of created) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    const refundId = created.find((e) => e.type === 'refund.created')!.data.object.id;
    for (const e of t.fakeStripe.failRefund(refundId)) expect((await t.fakeStripe.deliver(e)).status).toBe(200);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'confirmed', paymentStatus: 'paid', needsAttention: true });
    const retries = (await t.db.select().from(outbox).where(eq(outbox.topic, 'stripe_refund'))).filter((r) => r.dedupeKey.includes(`booking:${booking.id}`));
    expect(retries).toEqual([]);
    expect((await ledgerFor(t, booking.id)).map((e) => e.entryType)).toEqual(['charge', 'refund', 'refund_reversal']);
  });

  it('charge.refunded without embedded refunds (current API versions) reads them from Stripe before the transaction', async () => {
    const { booking, paymentIntentId } = await confirmedBooking();
    const events = t.fakeStripe.refundFromDashboard(paymentIntentId, 25_000);
    const chargeRefunded = structuredClone(events.find((e) => e.type === 'charge.refunded')!);
    delete chargeRefunded.data.object.refunds;
    const before = t.fakeStripe.requests.length;
    expect((await t.fakeStripe.deliver(chargeRefunded)).status).toBe(200);
    expect(t.fakeStripe.requests.slice(before).some((r) => r.method === 'GET' && r.path === '/v1/refunds')).toBe(true);
    expect((await ledgerFor(t, booking.id)).filter((e) => e.entryType === 'refund').map((e) => e.amountMinor)).toEqual([25_000]);
    expect((await bookingRow(t, booking.id)).paymentStatus).toBe('partially_refunded');
  });
});

describe('ledger invariant after a randomised run', () => {
  it('for every booking, charges minus refunds equal what Stripe holds for its payment intent', async () => {
    const flows = await Promise.all(Array.from({ length: 8 }, () => bookAndOpenCheckout(t, { passengers: 1 + Math.floor(Math.random() * 3) })));
    const all: any[] = [];
    for (const [i, f] of flows.entries()) {
      all.push(...t.fakeStripe.completeSession(f.sessionId));
      const pi = [...t.fakeStripe.paymentIntents.values()].find((p) => p.metadata.bookingId === String(f.booking.id))!;
      if (i % 3 === 1) all.push(...t.fakeStripe.refundFromDashboard(pi.id, 1_000 * (i + 1)));
      if (i % 3 === 2) all.push(...t.fakeStripe.refundFromDashboard(pi.id));
    }
    const results = await Promise.all(shuffle([...all, ...all.slice(0, 10)], 99).map((e) => t.fakeStripe.deliver(e)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    for (const f of flows) {
      const pi = [...t.fakeStripe.paymentIntents.values()].find((p) => p.metadata.bookingId === String(f.booking.id))!;
      const charge = chargeAt(t.fakeStripe, pi.latest_charge);
      const entries = await ledgerFor(t, f.booking.id);
      const net = entries.reduce((s, e) => s + (e.entryType === 'charge' ? e.amountMinor : e.entryType === 'refund' ? -e.amountMinor : e.amountMinor), 0);
      expect(net).toBe(pi.amount_received - charge.amount_refunded);
      expect(entries.filter((e) => e.entryType === 'charge')).toHaveLength(1);
    }
  });
});
