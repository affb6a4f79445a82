import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStripeEmulator, type StripeEmulator } from '../../server/dev/stripe-emulator/index.js';
import { createIdempotencyStore, IDEMPOTENCY_KEY_RETENTION_MS } from '../../server/dev/stripe-emulator/idempotency.js';
import fixtures from '../support/stripe-fixtures.json' with { type: 'json' };
import { chargeAt, eventOf, idOf, paymentIntentAt, paymentIntentIdOf, sessionAt } from '../support/stripe-state.js';

/**
 * Fidelity of the Stripe emulator, driven by the real `stripe` SDK over HTTP: objects carry every field
 * of Stripe's own OpenAPI fixtures, params are validated and errors raised the way Stripe does,
 * Idempotency-Key behaves like Stripe's, scenarios emit Stripe's events in Stripe's order, and
 * webhooks verify with the SDK's own verifier.
 */

const SECRET = 'whsec_test_emulator_secret';

function client(emulator: StripeEmulator, extra: { timeout?: number; maxNetworkRetries?: number } = {}): Stripe {
  return new Stripe('sk_test_emulator', {
    host: '127.0.0.1',
    port: emulator.port,
    protocol: 'http',
    maxNetworkRetries: extra.maxNetworkRetries ?? 0,
    ...(extra.timeout !== undefined ? { timeout: extra.timeout } : {}),
  });
}

function sessionParams(overrides: Partial<Stripe.Checkout.SessionCreateParams> = {}): Stripe.Checkout.SessionCreateParams {
  return {
    mode: 'payment',
    line_items: [
      { price_data: { currency: 'SAR', unit_amount: 45_000, product_data: { name: 'RUH → JED, economy' } }, quantity: 2 },
      { price_data: { currency: 'sar', unit_amount: 5_000, product_data: { name: 'Extra bag' } }, quantity: 1 },
    ],
    success_url: 'https://app.example.com/bookings/12/success?session_id={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://app.example.com/bookings/12/cancel',
    client_reference_id: 'booking-12',
    customer_email: 'traveller@example.com',
    metadata: { bookingId: '12' },
    payment_intent_data: { metadata: { bookingId: '12', kind: 'flight' } },
    ...overrides,
  };
}

async function rejectionOf(p: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Stripe.errors.StripeError) return e;
    throw e;
  }
  throw new Error('expected the promise to reject');
}

/**
 * Paths (a.b.c) present in Stripe's fixture and missing from ours. Nested objects are compared too,
 * except where the fixture shows another variant of a polymorphic field (a payment method type).
 */
function missingFields(fixture: unknown, ours: unknown, path = ''): string[] {
  if (!fixture || typeof fixture !== 'object' || Array.isArray(fixture)) return [];
  if (!ours || typeof ours !== 'object' || Array.isArray(ours)) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(fixture)) {
    if (!(k in ours)) out.push(`${path}${k}`);
    else if (!['metadata', 'payment_method_details', 'destination_details', 'data', 'previous_attributes'].includes(k)) {
      out.push(...missingFields(v, (ours as Record<string, unknown>)[k], `${path}${k}.`));
    }
  }
  return out;
}

/** A webhook receiver recording raw bodies and headers. */
async function startReceiver(): Promise<{ url: string; received: { headers: http.IncomingHttpHeaders; body: string }[]; close(): Promise<void> }> {
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ received: true }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/stripe`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

describe('the Stripe emulator, driven by the real stripe SDK', () => {
  let emulator: StripeEmulator;
  let stripe: Stripe;

  beforeAll(async () => {
    emulator = await startStripeEmulator({ webhookSecret: SECRET });
    stripe = client(emulator);
  });
  afterAll(async () => {
    await emulator.close();
  });

  it('creates and retrieves a checkout session shaped like Stripe, its url on the hosted page', async () => {
    const created = await stripe.checkout.sessions.create(sessionParams());
    expect(created.id).toMatch(/^cs_test_[A-Za-z0-9]{24}$/);
    expect(created).toMatchObject({
      object: 'checkout.session',
      mode: 'payment',
      status: 'open',
      payment_status: 'unpaid',
      amount_total: 95_000,
      currency: 'sar',
      payment_intent: null,
      client_reference_id: 'booking-12',
      metadata: { bookingId: '12' },
      url: `${emulator.publicUrl}/c/pay/${created.id}`,
      livemode: false,
    });
    expect(created.expires_at).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 24 * 3600 - 5);
    expect(await stripe.checkout.sessions.retrieve(created.id)).toEqual(created);
    const items = await stripe.checkout.sessions.listLineItems(created.id);
    expect(items.data.map((i) => [i.description, i.quantity, i.amount_total])).toEqual([
      ['RUH → JED, economy', 2, 90_000],
      ['Extra bag', 1, 5_000],
    ]);
    const req = emulator.requests.find((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions');
    expect(req?.body.metadata).toEqual({ bookingId: '12' });
    expect(req?.idempotencyKey).toMatch(/^stripe-node-retry-/); // the SDK keys every POST
  });

  it("every object and event carries every field of Stripe's OpenAPI fixtures", async () => {
    const s = await stripe.checkout.sessions.create(sessionParams());
    const [chargeSucceeded, piSucceeded, completed] = emulator.completeSession(s.id);
    const [refundCreated] = emulator.refundFromDashboard(piSucceeded.data.object.id, 1_000);
    const [disputed] = emulator.openDispute(piSucceeded.data.object.id);
    const r = fixtures.resources;
    const ours: [string, unknown, unknown][] = [
      ['checkout.session', r['checkout.session'], await stripe.checkout.sessions.retrieve(s.id)],
      ['item', r.item, (await stripe.checkout.sessions.listLineItems(s.id)).data[0]],
      ['payment_intent', r.payment_intent, await stripe.paymentIntents.retrieve(piSucceeded.data.object.id)],
      ['charge', r.charge, await stripe.charges.retrieve(chargeSucceeded.data.object.id)],
      ['refund', r.refund, await stripe.refunds.retrieve(refundCreated.data.object.id)],
      ['dispute', r.dispute, disputed.data.object],
      ['event', r.event, await stripe.events.retrieve(completed.id)],
    ];
    for (const [name, fixture, object] of ours) expect({ name, missing: missingFields(fixture, object) }).toEqual({ name, missing: [] });
  });

  it('validates params like Stripe (400 invalid_request_error / 404 resource_missing / 401)', async () => {
    const missing = await rejectionOf(
      stripe.checkout.sessions.create({ ...sessionParams(), success_url: undefined } as Stripe.Checkout.SessionCreateParams),
    );
    expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(missing).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'success_url' });

    const noQty = sessionParams({ line_items: [{ price_data: { currency: 'sar', unit_amount: 100, product_data: { name: 'x' } } }] });
    expect(await rejectionOf(stripe.checkout.sessions.create(noQty))).toMatchObject({ statusCode: 400, param: 'line_items[0][quantity]' });

    const now = Math.floor(Date.now() / 1000);
    const tooSoon = await rejectionOf(stripe.checkout.sessions.create(sessionParams({ expires_at: now + 10 * 60 })));
    expect(tooSoon).toMatchObject({ statusCode: 400, param: 'expires_at' });
    expect(tooSoon.message).toContain('at least 30 minutes');
    expect((await rejectionOf(stripe.checkout.sessions.create(sessionParams({ expires_at: now + 25 * 3600 })))).message).toContain(
      'less than 24 hours',
    );

    const bogus = { ...sessionParams(), bogus: 1 } as Stripe.Checkout.SessionCreateParams;
    expect(await rejectionOf(stripe.checkout.sessions.create(bogus))).toMatchObject({ statusCode: 400, code: 'parameter_unknown', param: 'bogus' });

    const notFound = await rejectionOf(stripe.checkout.sessions.retrieve('cs_test_nope'));
    expect(notFound).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(notFound).toMatchObject({ statusCode: 404, code: 'resource_missing', message: "No such checkout.session: 'cs_test_nope'" });

    const live = new Stripe('sk_live_nope', { host: '127.0.0.1', port: emulator.port, protocol: 'http', maxNetworkRetries: 0 });
    expect(await rejectionOf(live.paymentIntents.list())).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });

  it('honours Idempotency-Key: same params replay, different params -> idempotency_error', async () => {
    const before = emulator.sessions.size;
    const key = `booking-12-attempt-${Date.now()}`;
    const a = await stripe.checkout.sessions.create(sessionParams(), { idempotencyKey: key });
    const b = await stripe.checkout.sessions.create(sessionParams(), { idempotencyKey: key });
    expect(b).toEqual(a);
    expect(emulator.sessions.size).toBe(before + 1);
    expect(b.lastResponse.headers['idempotent-replayed']).toBe('true');

    const err = await rejectionOf(stripe.checkout.sessions.create(sessionParams({ metadata: { bookingId: '13' } }), { idempotencyKey: key }));
    expect(err).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(err).toMatchObject({ statusCode: 400, rawType: 'idempotency_error' });
    expect(err.message).toContain('can only be used with the same parameters');
    expect(emulator.sessions.size).toBe(before + 1);
  });

  it('paying by card emits charge.succeeded, payment_intent.succeeded, checkout.session.completed, each verifiable', async () => {
    const s = await stripe.checkout.sessions.create(sessionParams());
    const events = emulator.completeSession(s.id);
    expect(events.map((e) => e.type)).toEqual(['charge.succeeded', 'payment_intent.succeeded', 'checkout.session.completed']);
    for (const e of events) {
      const { payload, header } = emulator.sign(e);
      const verified = stripe.webhooks.constructEvent(payload, header, SECRET);
      expect(verified).toMatchObject({ id: e.id, object: 'event', livemode: false, api_version: Stripe.API_VERSION, request: { id: null, idempotency_key: null } });
      expect(() => stripe.webhooks.constructEvent(payload, header, 'whsec_wrong')).toThrow(Stripe.errors.StripeSignatureVerificationError);
    }
    const completed = events[2].data.object;
    expect(completed).toMatchObject({ status: 'complete', payment_status: 'paid', url: null });

    const pi = await stripe.paymentIntents.retrieve(idOf(completed.payment_intent));
    expect(pi).toMatchObject({ status: 'succeeded', amount: 95_000, amount_received: 95_000, currency: 'sar', metadata: { bookingId: '12', kind: 'flight' } });
    const charge = await stripe.charges.retrieve(idOf(pi.latest_charge));
    expect(charge).toMatchObject({ paid: true, status: 'succeeded', amount_captured: 95_000, amount_refunded: 0, payment_intent: pi.id });
    const expanded = await stripe.checkout.sessions.retrieve(s.id, { expand: ['payment_intent.latest_charge'] });
    const expandedPi = expanded.payment_intent as Stripe.PaymentIntent;
    expect([expandedPi.id, (expandedPi.latest_charge as Stripe.Charge).id]).toEqual([pi.id, charge.id]);

    // events are snapshots: later state changes don't rewrite history
    await stripe.refunds.create({ payment_intent: pi.id, amount: 100 });
    expect(events[0].data.object.amount_refunded).toBe(0);
    expect((await stripe.events.retrieve(events[2].id)).data.object).toEqual(completed);
  });

  it('a delayed payment completes unpaid, then succeeds or fails', async () => {
    const s1 = await stripe.checkout.sessions.create(sessionParams());
    const [completed] = emulator.completeSession(s1.id, { async: true });
    expect(completed.data.object).toMatchObject({ status: 'complete', payment_status: 'unpaid' });
    expect(paymentIntentAt(emulator, completed.data.object.payment_intent).status).toBe('processing');
    const ok = emulator.asyncPaymentSucceeded(s1.id);
    expect(ok.map((e) => e.type)).toEqual(['charge.succeeded', 'payment_intent.succeeded', 'checkout.session.async_payment_succeeded']);
    expect(ok[2].data.object.payment_status).toBe('paid');

    const s2 = await stripe.checkout.sessions.create(sessionParams());
    emulator.completeSession(s2.id, { async: true });
    const [failed, asyncFailed] = emulator.asyncPaymentFailed(s2.id);
    expect([failed.type, asyncFailed.type]).toEqual(['payment_intent.payment_failed', 'checkout.session.async_payment_failed']);
    expect(failed.data.object.status).toBe('requires_payment_method');
    expect(asyncFailed.data.object).toMatchObject({ status: 'complete', payment_status: 'unpaid' });
  });

  it('a declined card leaves the session open; expiry by API and by Stripe itself', async () => {
    const s = await stripe.checkout.sessions.create(sessionParams());
    const [failed] = emulator.failPayment(s.id);
    expect(failed.data.object.last_payment_error?.code).toBe('card_declined');
    expect((await stripe.checkout.sessions.retrieve(s.id)).status).toBe('open');

    const countBefore = emulator.events.length;
    expect(await stripe.checkout.sessions.expire(s.id)).toMatchObject({ status: 'expired', url: null });
    expect(emulator.events.length).toBe(countBefore + 1);
    const expiredEvent = eventOf(emulator.events.slice(countBefore), 'checkout.session.expired');
    expect(expiredEvent.request?.id).toMatch(/^req_/);
    const again = await rejectionOf(stripe.checkout.sessions.expire(s.id));
    expect(again).toMatchObject({ statusCode: 400, type: 'StripeInvalidRequestError' });
    expect(again.message).toContain('Only Checkout Sessions with a status in ["open"] can be expired');

    const s2 = await stripe.checkout.sessions.create(sessionParams());
    expect(emulator.expireSessionNow(s2.id).map((e) => e.type)).toEqual(['checkout.session.expired']);
    expect(() => emulator.completeSession(s2.id)).toThrow(/status expired/);
  });

  it('refunds: partial, the rest, over-refund refused; a refund failing later; a Dashboard refund; a dispute', async () => {
    const s = await stripe.checkout.sessions.create(sessionParams());
    emulator.completeSession(s.id);
    const piId = paymentIntentIdOf(emulator, s.id);

    const evCount = emulator.events.length;
    const r1 = await stripe.refunds.create({ payment_intent: piId, amount: 30_000, reason: 'requested_by_customer' });
    expect(r1).toMatchObject({ object: 'refund', status: 'succeeded', amount: 30_000, currency: 'sar', payment_intent: piId });
    const refunded = eventOf(emulator.events.slice(evCount), 'charge.refunded');
    expect(emulator.events.slice(evCount).map((e) => e.type)).toEqual(['refund.created', 'charge.refunded']);
    expect(refunded.data.object).toMatchObject({ amount_refunded: 30_000, refunded: false });
    expect(refunded.data.object.refunds?.data.map((r) => r.id)).toEqual([r1.id]);

    const tooMuch = await rejectionOf(stripe.refunds.create({ payment_intent: piId, amount: 70_000 }));
    expect(tooMuch).toMatchObject({ statusCode: 400, param: 'amount' });
    expect(tooMuch.message).toContain('greater than unrefunded amount');
    const r2 = await stripe.refunds.create({ payment_intent: piId }); // the rest
    expect(r2.amount).toBe(65_000);
    expect(await stripe.charges.retrieve(idOf(r2.charge))).toMatchObject({ amount_refunded: 95_000, refunded: true });
    expect(await rejectionOf(stripe.refunds.create({ payment_intent: piId, amount: 1 }))).toMatchObject({ statusCode: 400, code: 'charge_already_refunded' });
    expect((await stripe.refunds.list({ payment_intent: piId })).data.map((r) => r.id)).toEqual([r2.id, r1.id]);

    // the bank sends a refund back: the money is on the charge again
    const [failed] = emulator.failRefund(r1.id);
    expect(failed.data).toMatchObject({ object: { id: r1.id, status: 'failed' }, previous_attributes: { status: 'succeeded' } });
    expect(chargeAt(emulator, idOf(r2.charge)).amount_refunded).toBe(65_000);

    const [dashCreated, dashRefunded] = emulator.refundFromDashboard(piId, 10_000);
    expect(dashRefunded.data.object.amount_refunded).toBe(75_000);
    expect(dashCreated.request).toEqual({ id: null, idempotency_key: null });

    const [dispute] = emulator.openDispute(piId);
    expect(dispute.type).toBe('charge.dispute.created');
    expect(dispute.data.object).toMatchObject({ object: 'dispute', amount: 20_000, payment_intent: piId, status: 'needs_response' });
    expect((await stripe.charges.retrieve(idOf(r2.charge))).disputed).toBe(true);
    expect(await rejectionOf(stripe.refunds.create({ payment_intent: 'pi_missing' }))).toMatchObject({ code: 'resource_missing' });
  });

  it('a refund with an Idempotency-Key creates one refund and names the key on its events', async () => {
    const s = await stripe.checkout.sessions.create(sessionParams());
    emulator.completeSession(s.id);
    const piId = paymentIntentIdOf(emulator, s.id);
    const n = emulator.refunds.size;
    const evN = emulator.events.length;
    const a = await stripe.refunds.create({ payment_intent: piId, amount: 1_000 }, { idempotencyKey: `refund-${piId}` });
    const b = await stripe.refunds.create({ payment_intent: piId, amount: 1_000 }, { idempotencyKey: `refund-${piId}` });
    expect(b.id).toBe(a.id);
    expect(emulator.refunds.size).toBe(n + 1);
    expect(emulator.events.slice(evN).map((e) => e.request?.idempotency_key)).toEqual([`refund-${piId}`, `refund-${piId}`]);
  });

  it('a day later Stripe has forgotten the Idempotency-Key: the same refund request makes a second refund, and refunds.list shows both', async () => {
    const s = await stripe.checkout.sessions.create(sessionParams());
    emulator.completeSession(s.id);
    const piId = paymentIntentIdOf(emulator, s.id);
    const params = { payment_intent: piId, amount: 1_000, metadata: { refundRequest: 'r1' } };
    const a = await stripe.refunds.create(params, { idempotencyKey: `refund-day-${piId}` });
    emulator.forgetIdempotencyKeys();
    const b = await stripe.refunds.create(params, { idempotencyKey: `refund-day-${piId}` });
    expect(b.id).not.toBe(a.id);
    expect(b.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    const listed = await stripe.refunds.list({ payment_intent: piId }).autoPagingToArray({ limit: 10 });
    expect(listed.map((r) => [r.id, r.metadata])).toEqual([
      [b.id, { refundRequest: 'r1' }],
      [a.id, { refundRequest: 'r1' }],
    ]);
  });

  it('keeps an Idempotency-Key for 24 hours of its clock, then runs the request again', () => {
    let now = 0;
    const store = createIdempotencyStore(() => now);
    let runs = 0;
    const req = { key: 'k', method: 'POST', path: '/v1/refunds', params: {}, requestId: 'req_1' };
    const run = () => ({ status: 200, body: { n: ++runs }, store: true });
    expect(store.once(req, {}, run).body).toEqual({ n: 1 });
    now = IDEMPOTENCY_KEY_RETENTION_MS - 1;
    const headers: Record<string, string> = {};
    expect(store.once(req, headers, run).body).toEqual({ n: 1 });
    expect(headers['Idempotent-Replayed']).toBe('true');
    now = IDEMPOTENCY_KEY_RETENTION_MS;
    expect(store.once(req, {}, run).body).toEqual({ n: 2 });
  });

  it('lists events newest first, filtered and paginated', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await stripe.checkout.sessions.create(sessionParams());
      ids.push(s.id);
      emulator.completeSession(s.id);
    }
    const page = await stripe.events.list({ limit: 2 });
    expect(page).toMatchObject({ object: 'list', has_more: true });
    expect(page.data[0]!.id).toBe(emulator.events.at(-1)!.id);

    const completed = await stripe.events.list({ type: 'checkout.session.completed', created: { gte: since }, limit: 2 }).autoPagingToArray({ limit: 100 });
    expect(completed.map((e) => (e.data.object as Stripe.Checkout.Session).id).slice(0, 3)).toEqual([...ids].reverse());
    const all = await stripe.events.list({ limit: 3 }).autoPagingToArray({ limit: 10_000 });
    expect(all.map((e) => e.id)).toEqual([...emulator.events].reverse().map((e) => e.id));
    const wildcard = await stripe.events.list({ type: 'charge.*', limit: 100 });
    expect(wildcard.data.length).toBeGreaterThan(0);
    expect(wildcard.data.every((e) => e.type.startsWith('charge.'))).toBe(true);
  });

  it("fault 'error' answers 5xx for N requests, before Stripe does anything", async () => {
    emulator.setFault({ mode: 'error', times: 1, pathPrefix: '/v1/checkout/sessions' });
    const before = emulator.sessions.size;
    const err = await rejectionOf(stripe.checkout.sessions.create(sessionParams()));
    expect(err).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(err.statusCode).toBe(500);
    expect(emulator.sessions.size).toBe(before);
    await expect(stripe.checkout.sessions.create(sessionParams())).resolves.toMatchObject({ status: 'open' });

    emulator.setFault({ mode: 'error', status: 503 });
    expect(await rejectionOf(stripe.events.list())).toMatchObject({ statusCode: 503, type: 'StripeAPIError' });
    emulator.setFault({ mode: 'none' });
    await expect(stripe.events.list({ limit: 1 })).resolves.toMatchObject({ object: 'list' });
  });

  it("fault 'error' + after: processed, response lost; the SDK's retry with the same key gets the result", async () => {
    const retrying = client(emulator, { maxNetworkRetries: 1 });
    emulator.setFault({ mode: 'error', times: 1, after: true, pathPrefix: '/v1/checkout/sessions' });
    const before = emulator.sessions.size;
    const s = await retrying.checkout.sessions.create(sessionParams());
    expect(emulator.sessions.size).toBe(before + 1);
    const key = emulator.requests.at(-1)!.idempotencyKey;
    expect(emulator.requests.filter((r) => r.method === 'POST' && r.idempotencyKey === key)).toHaveLength(2);
    expect(sessionAt(emulator, s.id).id).toBe(s.id);
  });

  it("fault 'hang' makes a call time out as StripeConnectionError", async () => {
    const impatient = client(emulator, { timeout: 300 });
    emulator.setFault({ mode: 'hang', times: 1 });
    expect(await rejectionOf(impatient.paymentIntents.list())).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    await expect(impatient.paymentIntents.list({ limit: 1 })).resolves.toMatchObject({ object: 'list' });
  });

  it('deliver() POSTs the signed raw body; a stale timestamp fails verification', async () => {
    const receiver = await startReceiver();
    try {
      const s = await stripe.checkout.sessions.create(sessionParams());
      const completed = emulator.completeSession(s.id)[2];
      const res = await emulator.deliver(completed, { url: receiver.url });
      expect(res.status).toBe(200);
      const got = receiver.received[0]!;
      expect(got.headers['content-type']).toMatch(/^application\/json/);
      const sig = String(got.headers['stripe-signature']);
      expect(sig).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(stripe.webhooks.constructEvent(got.body, sig, SECRET)).toMatchObject({ id: completed.id, type: 'checkout.session.completed' });

      await emulator.deliver(completed, { url: receiver.url, timestamp: Math.floor(Date.now() / 1000) - 3600 });
      const stale = receiver.received[1]!;
      expect(() => stripe.webhooks.constructEvent(stale.body, String(stale.headers['stripe-signature']), SECRET)).toThrow(/tolerance/);
      expect(emulator.deliveries.slice(-2).map((d) => d.status)).toEqual([200, 200]);
    } finally {
      await receiver.close();
    }
  });
});

describe('the Stripe emulator delivering on its own, and closing', () => {
  it('delivers every emitted event in order; flush() waits for them', async () => {
    const receiver = await startReceiver();
    const emulator = await startStripeEmulator({ webhookUrl: receiver.url, autoDeliver: true });
    try {
      const stripe = client(emulator);
      const s = await stripe.checkout.sessions.create(sessionParams());
      const paid = emulator.completeSession(s.id);
      await stripe.refunds.create({ payment_intent: paid[1].data.object.id, amount: 500 });
      await emulator.flush();
      const types = receiver.received.map((r) => (JSON.parse(r.body) as Stripe.Event).type);
      expect(types).toEqual(['charge.succeeded', 'payment_intent.succeeded', 'checkout.session.completed', 'refund.created', 'charge.refunded']);
      for (const r of receiver.received) {
        expect(() => stripe.webhooks.constructEvent(r.body, String(r.headers['stripe-signature']), emulator.webhookSecret)).not.toThrow();
      }
      expect(emulator.deliveries.map((d) => d.status)).toEqual([200, 200, 200, 200, 200]);
    } finally {
      await emulator.close();
      await receiver.close();
    }
  });

  it('close() ends hanging requests', async () => {
    const emulator = await startStripeEmulator();
    const stripe = client(emulator); // the SDK's default 80 s timeout: only close() can end this call
    emulator.setFault({ mode: 'hang' });
    const pending = rejectionOf(stripe.checkout.sessions.retrieve('cs_test_whatever'));
    await new Promise((r) => setTimeout(r, 100));
    await emulator.close();
    expect(await pending).toBeInstanceOf(Stripe.errors.StripeConnectionError);
  });
});
