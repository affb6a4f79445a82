import { describe, expect, it } from 'vitest';
import { and, count, eq, inArray } from 'drizzle-orm';
import { bookings, bookingTransitions, financialLedger, flights, outbox, payments, reconciliationRuns, stripeEvents } from '../../server/db/schema/index.js';
import { recordLedgerEntry } from '../../server/services/ledger.js';
import { expireLapsedHolds } from '../../server/services/bookings.js';
import { reconcileWithStripe } from '../../server/services/reconciliation.js';
import { bookAndOpenCheckout, bookingRow, eventRow, ledgerFor } from '../support/booking-flow.js';
import { useTestApp } from '../support/lifecycle.js';

const t = useTestApp();
const reconcile = () => reconcileWithStripe(t.deps, { trigger: 'manual' });

describe('reconciliation with Stripe', () => {
  it('confirms a payment whose webhooks never arrived, with one charge entry; a second run changes nothing', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 2 });
    const emitted = t.fakeStripe.completeSession(sessionId); // Stripe took the money; no webhook reached us
    expect((await bookingRow(t, booking.id)).status).toBe('pending_payment');

    const first = await reconcile();
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'confirmed', paymentStatus: 'paid' });
    expect((await ledgerFor(t, booking.id)).map((e) => [e.entryType, e.amountMinor])).toEqual([['charge', booking.totalMinor]]);
    for (const e of emitted) expect(await eventRow(t, e.id)).toMatchObject({ processed: true });
    expect(first.eventsRepaired).toBeGreaterThanOrEqual(emitted.length);
    expect(first.mismatches).toEqual([]);
    const [run] = await t.db.select().from(reconciliationRuns).where(eq(reconciliationRuns.id, first.runId));
    expect(run).toMatchObject({ status: 'ok', triggeredBy: 'manual', eventsRepaired: first.eventsRepaired, mismatchCount: 0, finishedAt: expect.any(Date) });

    const ledgerRows = async () => (await t.db.select({ n: count() }).from(financialLedger))[0]!.n;
    const before = { ledger: await ledgerRows(), booking: await bookingRow(t, booking.id) };
    const second = await reconcile();
    expect(second).toMatchObject({ eventsRepaired: 0, mismatches: [] });
    expect(await ledgerRows()).toBe(before.ledger);
    expect(await bookingRow(t, booking.id)).toEqual(before.booking);
  });

  it('re-drives an event stored unprocessed, and reads only the event types we handle', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 1 });
    const completed = t.fakeStripe.completeSession(sessionId).find((e) => e.type === 'checkout.session.completed')!;
    // Stored by a delivery that failed (as if the database had refused the ledger write).
    await t.db.insert(stripeEvents).values({ id: completed.id, type: completed.type, stripeCreatedAt: new Date(completed.created * 1000), payload: completed, retryCount: 1, lastError: 'ledger offline' });
    await reconcile();
    expect(await eventRow(t, completed.id)).toMatchObject({ processed: true, retryCount: 1 });
    expect((await bookingRow(t, booking.id)).status).toBe('confirmed');
    const listCalls = t.fakeStripe.requests.filter((r) => r.method === 'GET' && r.path === '/v1/events');
    expect(listCalls.length).toBeGreaterThan(0);
    expect(listCalls[0]!.body.types).toEqual(expect.arrayContaining(['checkout.session.completed', 'payment_intent.succeeded', 'charge.refunded']));
  });

  it('reports a booking whose ledger disagrees with Stripe, with both amounts, in the run row', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 1, priceMinor: 50_000 });
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(sessionId));
    const row = await bookingRow(t, booking.id);
    // A refund in our books that Stripe never made.
    await recordLedgerEntry(t.db, 'refund', {
      bookingId: booking.id, userId: row.userId, amountMinor: 12_000, currency: 'SAR', paymentIntentId: row.stripePaymentIntentId!, refundId: 're_not_at_stripe', eventId: 'evt_test_mismatch',
    });
    const report = await reconcile();
    const mismatch = report.mismatches.find((m) => m.bookingId === booking.id);
    expect(mismatch).toMatchObject({ kind: 'ledger_below_stripe', paymentIntentId: row.stripePaymentIntentId, ledgerNetMinor: 38_000, stripeNetMinor: 50_000, currency: 'SAR' });
    const [run] = await t.db.select().from(reconciliationRuns).where(eq(reconciliationRuns.id, report.runId));
    expect(run).toMatchObject({ status: 'mismatch', mismatchCount: report.mismatches.length });
    expect(run!.mismatches).toEqual(expect.arrayContaining([expect.objectContaining({ bookingId: booking.id, ledgerNetMinor: 38_000, stripeNetMinor: 50_000 })]));
  });
});

describe('delayed payments and hold expiry', () => {
  it('bookings whose delayed payment is processing cannot starve the expiry of others', async () => {
    const processing = [];
    for (let i = 0; i < 3; i++) processing.push((await bookAndOpenCheckout(t, { seats: 5, passengers: 1 })).booking.id);
    const lapsed = (await bookAndOpenCheckout(t, { seats: 5, passengers: 1 })).booking.id;
    const past = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    // The processing ones lapsed first, so an oldest-first scan of 2 would only ever see them.
    for (const [i, id] of processing.entries()) await t.db.update(bookings).set({ paymentStatus: 'processing', holdExpiresAt: past(30 - i) }).where(eq(bookings.id, id));
    await t.db.update(bookings).set({ holdExpiresAt: past(1) }).where(eq(bookings.id, lapsed));
    expect(await expireLapsedHolds(t.deps, { limit: 2 })).toEqual([lapsed]);
    const rows = await t.db.select({ id: bookings.id, status: bookings.status }).from(bookings).where(inArray(bookings.id, processing));
    expect(rows.every((r) => r.status === 'pending_payment')).toBe(true);
  });

  it('a delayed payment whose outcome never reached us is settled by the reconciliation, even from before its window', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t, { seats: 5, passengers: 1 });
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(sessionId, { async: true }));
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'pending_payment', paymentStatus: 'processing' });
    t.fakeStripe.asyncPaymentSucceeded(sessionId); // the outcome, never delivered
    await t.db.update(bookings).set({ holdExpiresAt: new Date(Date.now() - 60_000) }).where(eq(bookings.id, booking.id));
    // A window that starts after the payment began: the run still reads back to the booking.
    await reconcileWithStripe(t.deps, { trigger: 'manual', since: new Date(Date.now() + 1000) });
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'confirmed', paymentStatus: 'paid' });
  });
});

describe('delayed payments processing longer than PAYMENT_PROCESSING_ALERT_DAYS', () => {
  const DAY = 86_400_000;
  const limit = () => t.deps.config.PAYMENT_PROCESSING_ALERT_DAYS;
  /** A bank debit under way for `days` days: the session completed unpaid, its payments row turned processing then. */
  async function processingFor(days: number) {
    const flow = await bookAndOpenCheckout(t, { seats: 5, passengers: 2 });
    await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(flow.sessionId, { async: true }));
    await t.db.update(payments).set({ updatedAt: new Date(Date.now() - days * DAY) }).where(eq(payments.stripeCheckoutSessionId, flow.sessionId));
    expect(await bookingRow(t, flow.booking.id)).toMatchObject({ status: 'pending_payment', paymentStatus: 'processing', seatsHeld: 2 });
    return flow;
  }
  const seatsLeft = async (flightId: number) => (await t.db.select({ n: flights.seatsAvailable }).from(flights).where(eq(flights.id, flightId)))[0]!.n;

  it('one Stripe still reports processing is flagged for a human and keeps its seats; one under the limit is left alone', async () => {
    const stuck = await processingFor(limit() + 1);
    const recent = await processingFor(limit() - 1);
    const report = await reconcile();
    expect(report.stuckPayments.find((s) => s.bookingId === stuck.booking.id)).toMatchObject({ stripeStatus: 'processing', action: 'flagged' });
    expect(report.stuckPayments.find((s) => s.bookingId === recent.booking.id)).toBeUndefined();
    expect(await bookingRow(t, stuck.booking.id)).toMatchObject({
      status: 'pending_payment',
      paymentStatus: 'processing',
      seatsHeld: 2,
      needsAttention: true,
      attentionReason: expect.stringMatching(new RegExp(`still processing at Stripe after ${limit() + 1} days; seats still held`)),
    });
    expect(await seatsLeft(stuck.flightId)).toBe(3);
    expect(await bookingRow(t, recent.booking.id)).toMatchObject({ needsAttention: false, seatsHeld: 2 });
  });

  it('one Stripe settled but whose events are gone is confirmed from the payment intent, through the webhook path: one charge, its e-mail; the late events change nothing', async () => {
    const { booking, sessionId } = await processingFor(limit() + 2);
    const emitted = t.fakeStripe.asyncPaymentSucceeded(sessionId); // never delivered
    t.fakeStripe.ageOutEvents(); // and a month later Stripe no longer lists them
    const report = await reconcile();
    expect(report.stuckPayments.find((s) => s.bookingId === booking.id)).toMatchObject({ stripeStatus: 'succeeded', action: 'settled' });
    expect(report.mismatches.filter((m) => m.bookingId === booking.id)).toEqual([]);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'confirmed', paymentStatus: 'paid', seatsHeld: 2, needsAttention: false });
    const ledger = await ledgerFor(t, booking.id);
    expect(ledger.map((e) => [e.entryType, e.amountMinor, e.stripeEventId])).toEqual([['charge', booking.totalMinor, `reconciliation:${report.runId}`]]);
    expect(await t.db.select({ topic: outbox.topic }).from(outbox).where(eq(outbox.dedupeKey, `send_booking_confirmation:booking:${booking.id}`))).toHaveLength(1);
    const [transition] = await t.db.select().from(bookingTransitions).where(and(eq(bookingTransitions.bookingId, booking.id), eq(bookingTransitions.toStatus, 'confirmed')));
    expect(transition).toMatchObject({ actor: `reconciliation:${report.runId}` });

    for (const r of await t.fakeStripe.deliverAll(emitted)) expect(r.status).toBe(200);
    expect(await ledgerFor(t, booking.id)).toHaveLength(1);
    expect((await bookingRow(t, booking.id)).status).toBe('confirmed');
  });

  it('one whose debit bounced, its events gone, fails and gives its seats back', async () => {
    const { booking, sessionId, flightId } = await processingFor(limit() + 1);
    t.fakeStripe.asyncPaymentFailed(sessionId);
    t.fakeStripe.ageOutEvents();
    const report = await reconcile();
    expect(report.stuckPayments.find((s) => s.bookingId === booking.id)).toMatchObject({ stripeStatus: 'requires_payment_method', action: 'settled' });
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'failed', paymentStatus: 'failed', seatsHeld: 0, needsAttention: false });
    expect(await seatsLeft(flightId)).toBe(5);
    expect(await ledgerFor(t, booking.id)).toEqual([]);
    expect((await t.db.select({ status: payments.status }).from(payments).where(eq(payments.stripeCheckoutSessionId, sessionId)))[0]).toEqual({ status: 'failed' });
  });
});
