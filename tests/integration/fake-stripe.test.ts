import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, type FakeStripe } from '../support/fake-stripe.js';

const SECRET = 'whsec_test_fake_secret';

function client(fake: FakeStripe, extra: { timeout?: number; maxNetworkRetries?: number } = {}): Stripe {
  return new Stripe('sk_test_fake', {
    host: '127.0.0.1',
    port: fake.port,
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

async function rejectionOf(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

/** A tiny webhook receiver recording raw bodies + headers. */
async function startReceiver(status = 200): Promise<{
  url: string;
  received: { headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}> {
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(status, { 'Content-Type': 'application/json' });
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

describe('fake-stripe driven by the real stripe SDK', () => {
  let fake: FakeStripe;
  let stripe: Stripe;

  beforeAll(async () => {
    fake = await startFakeStripe({ webhookSecret: SECRET });
    stripe = client(fake);
  });
  afterAll(async () => {
    await fake.close();
  });

  it('creates and retrieves a checkout session shaped like Stripe', async () => {
    const created = await stripe.checkout.sessions.create(sessionParams());
    expect(created.id).toMatch(/^cs_test_[A-Za-z0-9]{24}$/);
    expect(created).toMatchObject({
      object: 'checkout.session',
      mode: 'payment',
      status: 'open',
      payment_status: 'unpaid',
      amount_total: 95_000,
      amount_subtotal: 95_000,
      currency: 'sar',
      payment_intent: null,
      client_reference_id: 'booking-12',
      customer_email: 'traveller@example.com',
      metadata: { bookingId: '12' },
      url: `https://checkout.stripe.com/c/pay/${created.id}`,
      livemode: false,
    });
    const now = Math.floor(Date.now() / 1000);
    expect(created.expires_at).toBeGreaterThanOrEqual(now + 24 * 3600 - 5);

    const fetched = await stripe.checkout.sessions.retrieve(created.id);
    expect(fetched).toEqual(created);
    const items = await stripe.checkout.sessions.listLineItems(created.id);
    expect(items.data.map((i) => [i.description, i.quantity, i.amount_total])).toEqual([
      ['RUH → JED, economy', 2, 90_000],
      ['Extra bag', 1, 5_000],
    ]);

    const req = fake.requests.find((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions');
    expect(req?.body.metadata).toEqual({ bookingId: '12' });
    expect(req?.idempotencyKey).toMatch(/^stripe-node-retry-/); // the SDK keys every POST
  });

  it('validates params like Stripe (400 invalid_request_error / 404 resource_missing)', async () => {
    const missing = await rejectionOf(
      stripe.checkout.sessions.create({ ...sessionParams(), success_url: undefined } as Stripe.Checkout.SessionCreateParams),
    );
    expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(missing).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'success_url' });

    const noQty = await rejectionOf(
      stripe.checkout.sessions.create(
        sessionParams({ line_items: [{ price_data: { currency: 'sar', unit_amount: 100, product_data: { name: 'x' } } }] }),
      ),
    );
    expect(noQty).toMatchObject({ statusCode: 400, param: 'line_items[0][quantity]' });

    const tooSoon = await rejectionOf(
      stripe.checkout.sessions.create(sessionParams({ expires_at: Math.floor(Date.now() / 1000) + 10 * 60 })),
    );
    expect(tooSoon).toMatchObject({ statusCode: 400, param: 'expires_at' });
    expect(tooSoon.message).toContain('at least 30 minutes');
    const tooLate = await rejectionOf(
      stripe.checkout.sessions.create(sessionParams({ expires_at: Math.floor(Date.now() / 1000) + 25 * 3600 })),
    );
    expect(tooLate.message).toContain('less than 24 hours');
    const ok = await stripe.checkout.sessions.create(sessionParams({ expires_at: Math.floor(Date.now() / 1000) + 45 * 60 }));
    expect(ok.expires_at).toBeGreaterThan(0);

    const unknown = await rejectionOf(stripe.checkout.sessions.create({ ...sessionParams(), bogus: 1 } as any));
    expect(unknown).toMatchObject({ statusCode: 400, code: 'parameter_unknown', param: 'bogus' });

    const notFound = await rejectionOf(stripe.checkout.sessions.retrieve('cs_test_nope'));
    expect(notFound).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(notFound).toMatchObject({ statusCode: 404, code: 'resource_missing' });
    expect(notFound.message).toBe("No such checkout.session: 'cs_test_nope'");

    const badKey = await rejectionOf(
      new Stripe('sk_live_nope', { host: '127.0.0.1', port: fake.port, protocol: 'http', maxNetworkRetries: 0 }).paymentIntents.list(),
    );
    expect(badKey).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });

  it('honours Idempotency-Key: same params replay, different params -> idempotency_error', async () => {
    const before = fake.sessions.size;
    const key = `booking-12-attempt-${Date.now()}`;
    const a = await stripe.checkout.sessions.create(sessionParams(), { idempotencyKey: key });
    const b = await stripe.checkout.sessions.create(sessionParams(), { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    expect(b).toEqual(a);
    expect(fake.sessions.size).toBe(before + 1);
    expect((b as any).lastResponse.headers['idempotent-replayed']).toBe('true');

    const err = await rejectionOf(
      stripe.checkout.sessions.create(sessionParams({ metadata: { bookingId: '13' } }), { idempotencyKey: key }),
    );
    expect(err).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(err).toMatchObject({ statusCode: 400, rawType: 'idempotency_error' });
    expect(err.message).toContain('can only be used with the same parameters');
    expect(fake.sessions.size).toBe(before + 1);
  });

  it('completeSession pays the session and emits verifiable events', async () => {
    const s = await stripe.checkout.sessions.create(sessionParams());
    const events = fake.completeSession(s.id);
    expect(events.map((e) => e.type)).toEqual(['charge.succeeded', 'payment_intent.succeeded', 'checkout.session.completed']);

    for (const e of events) {
      const { payload, header } = fake.sign(e);
      const verified = stripe.webhooks.constructEvent(payload, header, SECRET);
      expect(verified.id).toBe(e.id);
      expect(verified).toMatchObject({
        object: 'event',
        livemode: false,
        pending_webhooks: 1,
        api_version: Stripe.API_VERSION, // what the SDK sent in Stripe-Version
        request: { id: null, idempotency_key: null },
      });
      expect(() => stripe.webhooks.constructEvent(payload, header, 'whsec_wrong')).toThrow(
        Stripe.errors.StripeSignatureVerificationError,
      );
    }

    const completed = events[2].data.object;
    expect(completed).toMatchObject({ status: 'complete', payment_status: 'paid', url: null });
    expect(completed.payment_intent).toMatch(/^pi_/);

    const pi = await stripe.paymentIntents.retrieve(completed.payment_intent);
    expect(pi).toMatchObject({
      status: 'succeeded',
      amount: 95_000,
      amount_received: 95_000,
      currency: 'sar',
      metadata: { bookingId: '12', kind: 'flight' },
    });
    const charge = await stripe.charges.retrieve(pi.latest_charge as string);
    expect(charge).toMatchObject({
      paid: true,
      status: 'succeeded',
      amount_captured: 95_000,
      amount_refunded: 0,
      payment_intent: pi.id,
      metadata: { bookingId: '12', kind: 'flight' },
    });
    const expanded = await stripe.checkout.sessions.retrieve(s.id, { expand: ['payment_intent.latest_charge'] });
    expect((expanded.payment_intent as Stripe.PaymentIntent).id).toBe(pi.id);
    expect(((expanded.payment_intent as Stripe.PaymentIntent).latest_charge as Stripe.Charge).id).toBe(charge.id);

    // events are snapshots: later state changes don't rewrite history
    expect(events[0].data.object.amount_refunded).toBe(0);
    const retrieved = await stripe.events.retrieve(events[2].id);
    expect(retrieved.data.object).toEqual(completed);
  });

  it('async payments: processing, then succeeded or failed', async () => {
    const s1 = await stripe.checkout.sessions.create(sessionParams());
    const e1 = fake.completeSession(s1.id, { async: true });
    expect(e1.map((e) => e.type)).toEqual(['checkout.session.completed']);
    expect(e1[0].data.object).toMatchObject({ status: 'complete', payment_status: 'unpaid' });
    expect(fake.paymentIntents.get(e1[0].data.object.payment_intent).status).toBe('processing');
    const ok = fake.asyncPaymentSucceeded(s1.id);
    expect(ok.map((e) => e.type)).toEqual(['charge.succeeded', 'payment_intent.succeeded', 'checkout.session.async_payment_succeeded']);
    expect(ok[2].data.object.payment_status).toBe('paid');

    const s2 = await stripe.checkout.sessions.create(sessionParams());
    fake.completeSession(s2.id, { async: true });
    const bad = fake.asyncPaymentFailed(s2.id);
    expect(bad.map((e) => e.type)).toEqual(['payment_intent.payment_failed', 'checkout.session.async_payment_failed']);
    expect(bad[0].data.object.status).toBe('requires_payment_method');
    expect(bad[1].data.object).toMatchObject({ status: 'complete', payment_status: 'unpaid' });
  });

  it('declines, then expiry (by API and by Stripe itself)', async () => {
    const s = await stripe.checkout.sessions.create(sessionParams());
    const failed = fake.failPayment(s.id);
    expect(failed.map((e) => e.type)).toEqual(['payment_intent.payment_failed']);
    expect(failed[0].data.object.last_payment_error.code).toBe('card_declined');
    expect((await stripe.checkout.sessions.retrieve(s.id)).status).toBe('open');

    const countBefore = fake.events.length;
    const expired = await stripe.checkout.sessions.expire(s.id);
    expect(expired).toMatchObject({ status: 'expired', url: null });
    const evt = fake.events[fake.events.length - 1];
    expect(fake.events.length).toBe(countBefore + 1);
    expect(evt.type).toBe('checkout.session.expired');
    expect(evt.request.id).toMatch(/^req_/);

    const again = await rejectionOf(stripe.checkout.sessions.expire(s.id));
    expect(again).toMatchObject({ statusCode: 400, type: 'StripeInvalidRequestError' });
    expect(again.message).toContain('Only Checkout Sessions with a status in ["open"] can be expired');

    const s2 = await stripe.checkout.sessions.create(sessionParams());
    expect(fake.expireSessionNow(s2.id).map((e) => e.type)).toEqual(['checkout.session.expired']);
    expect(() => fake.completeSession(s2.id)).toThrow();
  });

  it('refunds: partial, then the rest, then an over-refund is refused', async () => {
    const s = await stripe.checkout.sessions.create(sessionParams());
    fake.completeSession(s.id);
    const piId = fake.sessions.get(s.id).payment_intent as string;

    const evCount = fake.events.length;
    const r1 = await stripe.refunds.create({ payment_intent: piId, amount: 30_000, reason: 'requested_by_customer', metadata: { bookingId: '12' } });
    expect(r1).toMatchObject({ object: 'refund', status: 'succeeded', amount: 30_000, currency: 'sar', payment_intent: piId });
    const newEvents = fake.events.slice(evCount);
    expect(newEvents.map((e) => e.type)).toEqual(['refund.created', 'charge.refunded']);
    expect(newEvents[1].data.object).toMatchObject({ amount_refunded: 30_000, refunded: false });
    expect(newEvents[1].data.object.refunds.data.map((r: any) => r.id)).toEqual([r1.id]);

    const tooMuch = await rejectionOf(stripe.refunds.create({ payment_intent: piId, amount: 70_000 }));
    expect(tooMuch).toMatchObject({ statusCode: 400, param: 'amount' });
    expect(tooMuch.message).toContain('greater than unrefunded amount');

    const r2 = await stripe.refunds.create({ payment_intent: piId }); // the rest
    expect(r2.amount).toBe(65_000);
    const charge = await stripe.charges.retrieve(r2.charge as string);
    expect(charge).toMatchObject({ amount_refunded: 95_000, refunded: true });

    const over = await rejectionOf(stripe.refunds.create({ payment_intent: piId, amount: 1 }));
    expect(over).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(over).toMatchObject({ statusCode: 400, code: 'charge_already_refunded' });

    const listed = await stripe.refunds.list({ payment_intent: piId });
    expect(listed.data.map((r) => r.id)).toEqual([r2.id, r1.id]);
    expect((await stripe.refunds.retrieve(r1.id)).amount).toBe(30_000);

    // refund failing later gives the money back to the charge
    const failed = fake.failRefund(r1.id);
    expect(failed.map((e) => e.type)).toEqual(['refund.updated']);
    expect(failed[0].data).toMatchObject({ object: { id: r1.id, status: 'failed' }, previous_attributes: { status: 'succeeded' } });
    expect(fake.charges.get(charge.id).amount_refunded).toBe(65_000);

    // a refund made in the Dashboard
    const dash = fake.refundFromDashboard(piId, 10_000);
    expect(dash.map((e) => e.type)).toEqual(['refund.created', 'charge.refunded']);
    expect(dash[1].data.object.amount_refunded).toBe(75_000);
    expect(dash[0].request).toEqual({ id: null, idempotency_key: null });

    const unknown = await rejectionOf(stripe.refunds.create({ payment_intent: 'pi_missing' }));
    expect(unknown).toMatchObject({ code: 'resource_missing' });
  });

  it('refund with an Idempotency-Key creates one refund', async () => {
    const s = await stripe.checkout.sessions.create(sessionParams());
    fake.completeSession(s.id);
    const piId = fake.sessions.get(s.id).payment_intent as string;
    const n = fake.refunds.size;
    const evN = fake.events.length;
    const a = await stripe.refunds.create({ payment_intent: piId, amount: 1_000 }, { idempotencyKey: `refund-${piId}` });
    const b = await stripe.refunds.create({ payment_intent: piId, amount: 1_000 }, { idempotencyKey: `refund-${piId}` });
    expect(b.id).toBe(a.id);
    expect(fake.refunds.size).toBe(n + 1);
    expect(fake.events.length).toBe(evN + 2);
    expect(fake.events[evN].request.idempotency_key).toBe(`refund-${piId}`);
  });

  it('lists events newest first, filtered and paginated', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await stripe.checkout.sessions.create(sessionParams());
      ids.push(s.id);
      fake.completeSession(s.id);
    }
    const page = await stripe.events.list({ limit: 2 });
    expect(page.object).toBe('list');
    expect(page.has_more).toBe(true);
    expect(page.data[0]!.id).toBe(fake.events[fake.events.length - 1].id);

    const completed = await stripe.events
      .list({ type: 'checkout.session.completed', created: { gte: since }, limit: 2 })
      .autoPagingToArray({ limit: 100 });
    const completedIds = completed.map((e) => (e.data.object as Stripe.Checkout.Session).id);
    expect(completedIds.slice(0, 3)).toEqual([...ids].reverse());
    expect(completed.every((e) => e.type === 'checkout.session.completed')).toBe(true);

    const all = await stripe.events.list({ limit: 3 }).autoPagingToArray({ limit: 10_000 });
    expect(all.map((e) => e.id)).toEqual([...fake.events].reverse().map((e) => e.id));

    const wildcard = await stripe.events.list({ type: 'charge.*', limit: 100 });
    expect(wildcard.data.length).toBeGreaterThan(0);
    expect(wildcard.data.every((e) => e.type.startsWith('charge.'))).toBe(true);

    const pis = await stripe.paymentIntents.list({ created: { gte: since }, limit: 1 }).autoPagingToArray({ limit: 100 });
    expect(pis.length).toBeGreaterThanOrEqual(3);
    expect(new Set(pis.map((p) => p.id)).size).toBe(pis.length);
  });

  it("fault 'error' answers 5xx api_error for N requests", async () => {
    fake.setFault({ mode: 'error', times: 1, pathPrefix: '/v1/checkout/sessions' });
    const before = fake.sessions.size;
    const err = await rejectionOf(stripe.checkout.sessions.create(sessionParams()));
    expect(err).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(err.statusCode).toBe(500);
    expect(fake.sessions.size).toBe(before); // nothing was created
    await expect(stripe.checkout.sessions.create(sessionParams())).resolves.toMatchObject({ status: 'open' });

    fake.setFault({ mode: 'error', status: 503 });
    const err503 = await rejectionOf(stripe.events.list());
    expect(err503).toMatchObject({ statusCode: 503, type: 'StripeAPIError' });
    fake.setFault({ mode: 'none' });
    await expect(stripe.events.list({ limit: 1 })).resolves.toMatchObject({ object: 'list' });
  });

  it("fault 'error' + after: processed, response lost; the SDK retry with the same key gets the result", async () => {
    const retrying = client(fake, { maxNetworkRetries: 1 });
    fake.setFault({ mode: 'error', times: 1, after: true, pathPrefix: '/v1/checkout/sessions' });
    const before = fake.sessions.size;
    const s = await retrying.checkout.sessions.create(sessionParams());
    expect(fake.sessions.size).toBe(before + 1);
    const posts = fake.requests.filter((r) => r.method === 'POST' && r.idempotencyKey === fake.requests.at(-1)!.idempotencyKey);
    expect(posts.length).toBe(2);
    expect(fake.sessions.has(s.id)).toBe(true);
  });

  it("fault 'hang' makes a timed-out call throw StripeConnectionError", async () => {
    const impatient = client(fake, { timeout: 500 });
    fake.setFault({ mode: 'hang', times: 1 });
    const started = Date.now();
    const err = await rejectionOf(impatient.paymentIntents.list());
    expect(err).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect(impatient.paymentIntents.list({ limit: 1 })).resolves.toMatchObject({ object: 'list' });
  });

  it('deliver() POSTs the signed raw body to a webhook URL', async () => {
    const receiver = await startReceiver();
    try {
      const s = await stripe.checkout.sessions.create(sessionParams());
      const events = fake.completeSession(s.id);
      const res = await fake.deliver(events[2], { url: receiver.url });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ received: true });
      const got = receiver.received[0]!;
      expect(got.headers['content-type']).toMatch(/^application\/json/);
      const sig = got.headers['stripe-signature'] as string;
      expect(sig).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      const verified = stripe.webhooks.constructEvent(got.body, sig, SECRET);
      expect(verified.id).toBe(events[2].id);
      expect(verified.type).toBe('checkout.session.completed');

      // a stale timestamp is rejected by the verifier (replay protection)
      await fake.deliver(events[2], { url: receiver.url, timestamp: Math.floor(Date.now() / 1000) - 3600 });
      const stale = receiver.received[1]!;
      expect(() => stripe.webhooks.constructEvent(stale.body, stale.headers['stripe-signature'] as string, SECRET)).toThrow(
        /tolerance/,
      );
      expect(fake.deliveries.slice(-2).map((d) => d.status)).toEqual([200, 200]);
    } finally {
      await receiver.close();
    }
  });
});

describe('fake-stripe autoDeliver and close()', () => {
  it('delivers every emitted event in order; flush() waits for them', async () => {
    const receiver = await startReceiver();
    const fake = await startFakeStripe({ webhookUrl: receiver.url, autoDeliver: true });
    try {
      const stripe = client(fake);
      const s = await stripe.checkout.sessions.create(sessionParams());
      const events = fake.completeSession(s.id);
      const piId = events[1].data.object.id;
      await stripe.refunds.create({ payment_intent: piId, amount: 500 });
      await fake.flush();
      const types = receiver.received.map((r) => JSON.parse(r.body).type);
      expect(types).toEqual(['charge.succeeded', 'payment_intent.succeeded', 'checkout.session.completed', 'refund.created', 'charge.refunded']);
      for (const r of receiver.received) {
        expect(() => stripe.webhooks.constructEvent(r.body, r.headers['stripe-signature'] as string, fake.webhookSecret)).not.toThrow();
      }
      const results = await fake.deliverAll(events);
      expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    } finally {
      await fake.close();
      await receiver.close();
    }
  });

  it('close() ends hanging requests promptly', async () => {
    const fake = await startFakeStripe();
    const stripe = client(fake); // default 80s timeout
    fake.setFault({ mode: 'hang' });
    const pending = rejectionOf(stripe.checkout.sessions.retrieve('cs_test_whatever'));
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await fake.close();
    const err = await pending;
    expect(err).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
