import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../support/harness.js';
import { bookAndOpenCheckout, bookingRow, ledgerFor } from '../support/booking-flow.js';
import { eventually } from '../support/e2e.js';
import { seatsAvailable } from '../support/flights.js';
import { sessionAt } from '../support/stripe-state.js';

/**
 * The emulator's hosted Checkout page and dashboard, over real HTTP, with the app in-process receiving
 * the emulator's signed webhooks as they happen (as under `npm start`). Each button is a form POST;
 * what a browser would do with the answer (follow the redirect) is checked on the 303 itself.
 */

let t: TestContext;
beforeAll(async () => {
  t = await startTestApp({ stripeEmulator: { autoDeliver: true, delayedPaymentMs: 50 } });
});
afterAll(async () => {
  await t?.close();
});

/** The session's hosted page url, as the app handed it to the traveller. */
const pageUrl = (sessionId: string): string => sessionAt(t.fakeStripe, sessionId).url ?? '';
const press = (sessionId: string, action: string) => fetch(`${t.fakeStripe.publicUrl}/c/pay/${sessionId}/${action}`, { method: 'POST', redirect: 'manual' });
const buttonNames = (html: string): string[] => [...html.matchAll(/<button\b[^>]*>([^<]*)<\/button>/g)].map((m) => m[1]!.trim());
const status = async (id: number) => (await bookingRow(t, id)).status;

describe('the hosted Checkout page', () => {
  it('shows the booking line items and total, and exactly the four buttons', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t, { passengers: 2, priceMinor: 45_000 });
    const res = await fetch(pageUrl(sessionId));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('SAR 900.00');
    expect(html).toMatch(/<td>[^<]*RUH[^<]*JED[^<]*<\/td><td class="num">2<\/td>/); // the app's line item, 2 travellers
    expect(buttonNames(html)).toEqual(['Pay', 'Pay with a declined card', 'Pay by bank transfer', 'Cancel']);
    expect(booking.totalMinor).toBe(90_000);
  });

  it('Pay: redirects to success_url, the three events reach the app, the booking is confirmed once', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    const res = await press(sessionId, 'pay');
    expect(res.status).toBe(303);
    const session = sessionAt(t.fakeStripe, sessionId);
    expect(res.headers.get('location')).toBe(session.success_url?.replace('{CHECKOUT_SESSION_ID}', sessionId));
    expect(res.headers.get('location')).toContain(`session_id=${sessionId}`);
    await t.fakeStripe.flush();
    const delivered = t.fakeStripe.deliveries.filter((d) => t.fakeStripe.events.find((e) => e.id === d.eventId && 'id' in e.data.object && [sessionId, session.payment_intent].includes(e.data.object.id)));
    expect(delivered.map((d) => [d.type, d.status])).toEqual([
      ['payment_intent.succeeded', 200],
      ['checkout.session.completed', 200],
    ]);
    expect(await status(booking.id)).toBe('confirmed');
    expect((await ledgerFor(t, booking.id)).map((e) => [e.entryType, e.amountMinor])).toEqual([['charge', booking.totalMinor]]);

    // The page does not take money twice.
    const again = await fetch(pageUrl(sessionId) || `${t.fakeStripe.publicUrl}/c/pay/${sessionId}`);
    expect(again.status).toBe(410);
    expect(await again.text()).toContain('This payment is complete.');
    expect((await press(sessionId, 'pay')).status).toBe(410);
  });

  it('Pay with a declined card: back on the page with the decline shown, the booking still payable', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    const res = await press(sessionId, 'decline');
    expect(res.status).toBe(303);
    const back = new URL(res.headers.get('location')!, t.fakeStripe.publicUrl);
    const page = await (await fetch(back)).text();
    expect(page).toMatch(/role="alert">Your card was declined\./);
    await t.fakeStripe.flush();
    expect(t.fakeStripe.deliveries.at(-1)).toMatchObject({ type: 'payment_intent.payment_failed', status: 200 });
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'pending_payment', seatsHeld: booking.passengerCount });

    expect((await press(sessionId, 'pay')).status).toBe(303);
    await t.fakeStripe.flush();
    expect(await status(booking.id)).toBe('confirmed');
  });

  it('Pay by bank transfer: completed unpaid now, confirmed when the transfer settles', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    const res = await press(sessionId, 'bank-transfer');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain(`session_id=${sessionId}`);
    const types = await eventually(async () => {
      await t.fakeStripe.flush();
      const sessionEvents = t.fakeStripe.events.filter((e) => 'id' in e.data.object && e.data.object.id === sessionId).map((e) => e.type);
      return sessionEvents.includes('checkout.session.async_payment_succeeded') && sessionEvents;
    });
    expect(types).toEqual(['checkout.session.completed', 'checkout.session.async_payment_succeeded']);
    await t.fakeStripe.flush();
    expect(t.fakeStripe.deliveries.filter((d) => d.status !== 200)).toEqual([]);
    expect(await status(booking.id)).toBe('confirmed');
  });

  it('Cancel: back to cancel_url, nothing happens at Stripe, the seats stay held', async () => {
    const { booking, flightId, sessionId } = await bookAndOpenCheckout(t, { seats: 10, passengers: 3 });
    const events = t.fakeStripe.events.length;
    const res = await press(sessionId, 'cancel');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(sessionAt(t.fakeStripe, sessionId).cancel_url);
    expect(t.fakeStripe.events.length).toBe(events);
    expect(sessionAt(t.fakeStripe, sessionId).status).toBe('open');
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'pending_payment', seatsHeld: 3 });
    expect(await seatsAvailable(t.db, flightId)).toBe(7);
  });

  it('an unknown session or action is a 404', async () => {
    expect((await fetch(`${t.fakeStripe.publicUrl}/c/pay/cs_test_nope`)).status).toBe(404);
    const { sessionId } = await bookAndOpenCheckout(t);
    expect((await press(sessionId, 'steal')).status).toBe(404);
  });
});

describe('the dashboard', () => {
  it('lists payments, refunds one from its Refund button, and shows each delivery\'s HTTP status', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(t);
    await press(sessionId, 'pay');
    await t.fakeStripe.flush();
    const piId = String(sessionAt(t.fakeStripe, sessionId).payment_intent);
    const before = await (await fetch(`${t.fakeStripe.publicUrl}/dashboard`)).text();
    expect(before).toContain(piId);
    expect(before).toContain(`action="/dashboard/payments/${piId}/refund"`);

    const res = await fetch(`${t.fakeStripe.publicUrl}/dashboard/payments/${piId}/refund`, { method: 'POST', redirect: 'manual' });
    expect(res.status).toBe(303);
    await eventually(async () => {
      await t.fakeStripe.flush();
      return (await status(booking.id)) === 'refunded';
    });
    expect((await ledgerFor(t, booking.id)).map((e) => [e.entryType, e.amountMinor])).toEqual([
      ['charge', booking.totalMinor],
      ['refund', booking.totalMinor],
    ]);
    const after = await (await fetch(`${t.fakeStripe.publicUrl}/dashboard`)).text();
    const refund = [...t.fakeStripe.refunds.values()].find((r) => r.payment_intent === piId)!;
    expect(after).toContain(refund.id);
    expect(after).not.toContain(`action="/dashboard/payments/${piId}/refund"`); // nothing left to refund
    const refundEvent = t.fakeStripe.events.find((e) => e.type === 'charge.refunded' && 'payment_intent' in e.data.object && e.data.object.payment_intent === piId)!;
    expect(after).toMatch(new RegExp(`${refundEvent.id}</code></td><td>[^<]*</td><td>charge.refunded</td><td>200</td>`));
  });
});
