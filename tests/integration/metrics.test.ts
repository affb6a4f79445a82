import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { sql } from 'drizzle-orm';
import { createApp } from '../../server/app.js';
import { bookings, outbox, stripeEvents } from '../../server/db/schema/index.js';
import { transition } from '../../server/services/booking-state.js';
import { metricsAccessAllowed } from '../../server/http/metrics.js';
import { bookAndOpenCheckout } from '../support/booking-flow.js';
import { samples, total } from '../support/metrics.js';
import { useTestApp } from '../support/lifecycle.js';

const t = useTestApp();

const scrape = async (baseUrl = t.baseUrl) => {
  const res = await request(baseUrl).get('/metrics');
  expect(res.status).toBe(200);
  return res.text;
};

describe('GET /metrics', () => {
  it('serves the Prometheus text format with the default process metrics and every metric of the table', async () => {
    const res = await request(t.baseUrl).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const name of [
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'http_request_duration_seconds',
      'bookings_created_total',
      'booking_transitions_total',
      'stripe_webhook_events_total',
      'ledger_entries_total',
      'outbox_pending',
      'outbox_oldest_pending_seconds',
      'stripe_events_unprocessed',
      'needs_attention',
    ]) {
      expect(res.text).toContain(`# TYPE ${name} `);
    }
  });

  it('counts a paid booking once: created, pending_payment -> confirmed, one charge entry, every webhook delivery by type and outcome', async () => {
    const before = await scrape();
    const { sessionId } = await bookAndOpenCheckout(t);
    const events = t.fakeStripe.completeSession(sessionId);
    for (const event of events) expect((await t.fakeStripe.deliver(event)).status).toBe(200);
    expect((await t.fakeStripe.deliver(events[0]!)).status).toBe(200); // Stripe delivers one again
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);

    expect(delta('bookings_created_total')).toBe(1);
    expect(delta('booking_transitions_total', { from: 'pending_payment', to: 'confirmed' })).toBe(1);
    expect(delta('booking_transitions_total')).toBe(1);
    expect(delta('ledger_entries_total', { kind: 'charge' })).toBe(1);
    expect(delta('ledger_entries_total')).toBe(1);
    expect(delta('stripe_webhook_events_total')).toBe(events.length + 1);
    expect(delta('stripe_webhook_events_total', { type: events[0]!.type, outcome: 'duplicate' })).toBe(1);
    for (const event of events) expect(delta('stripe_webhook_events_total', { type: event.type })).toBe(event === events[0] ? 2 : 1);
  });

  it('counts nothing for a transition whose transaction rolls back', async () => {
    const { booking } = await bookAndOpenCheckout(t);
    const before = await scrape();
    await expect(
      t.db.transaction(async (tx) => {
        await transition(tx, { bookingId: booking.id, from: 'pending_payment', to: 'cancelled', reason: 'test', actor: 'system:test' });
        throw new Error('roll it back');
      }),
    ).rejects.toThrow('roll it back');
    const after = await scrape();
    expect(total(after, 'booking_transitions_total', { to: 'cancelled' })).toBe(total(before, 'booking_transitions_total', { to: 'cancelled' }));
  });

  it('labels requests by route pattern or tRPC procedure, never by raw URL', async () => {
    await request(t.baseUrl).post('/api/mobile/v1/auth/login').send({ email: 'not-an-email' }); // 400 through the error handler
    await request(t.baseUrl).get('/trpc/flights.byId').query({ input: JSON.stringify({ id: 987654 }) }); // 404
    await request(t.baseUrl).get('/trpc/flights.byId,flights.byId').query({ batch: 1, input: JSON.stringify({ 0: { id: 1 }, 1: { id: 2 } }) });
    await request(t.baseUrl).get('/trpc/attacker.chosen.path');
    await request(t.baseUrl).get('/wp-admin/setup-config.php?step=1');
    const text = await scrape();
    const count = (route: string, status?: string) => total(text, 'http_request_duration_seconds_count', { route, ...(status ? { status } : {}) });
    expect(count('/api/mobile/v1/auth/login', '400')).toBeGreaterThanOrEqual(1);
    expect(count('/trpc/flights.byId', '404')).toBeGreaterThanOrEqual(1);
    expect(count('/trpc/(batch)')).toBeGreaterThanOrEqual(1);
    expect(count('/trpc/(unknown)')).toBeGreaterThanOrEqual(1);
    expect(count('(unmatched)', '404')).toBeGreaterThanOrEqual(1);
    expect(text).not.toMatch(/attacker|wp-admin|987654/);
  });

  it('computes the database gauges on scrape: pending outbox and its oldest age, unprocessed events, needs_attention per entity', async () => {
    const { booking } = await bookAndOpenCheckout(t);
    await t.db.update(bookings).set({ needsAttention: true, attentionReason: 'metrics test' }).where(sql`${bookings.id} = ${booking.id}`);
    await t.db.insert(stripeEvents).values([
      { id: 'evt_metrics_flagged', type: 'charge.succeeded', stripeCreatedAt: new Date(), payload: {}, needsAttention: true },
      { id: 'evt_metrics_waiting', type: 'charge.succeeded', stripeCreatedAt: new Date(), payload: {} },
    ]);
    await t.db.insert(outbox).values([
      { topic: 'stripe_refund', dedupeKey: 'metrics-pending', payload: {}, availableAt: new Date() },
      { topic: 'stripe_refund', dedupeKey: 'metrics-failed', payload: {}, availableAt: new Date(), status: 'failed' },
    ]);
    await t.db.execute(sql`UPDATE outbox SET created_at = NOW(3) - INTERVAL 120 SECOND WHERE dedupe_key = 'metrics-pending'`);
    const [counts] = (await t.db.execute(sql`
      SELECT (SELECT COUNT(*) FROM outbox WHERE status = 'pending') AS pending, (SELECT COUNT(*) FROM outbox WHERE status = 'failed') AS failed,
             (SELECT COUNT(*) FROM bookings WHERE needs_attention) AS flagged, (SELECT COUNT(*) FROM stripe_events WHERE NOT processed) AS unprocessed,
             (SELECT COUNT(*) FROM stripe_events WHERE needs_attention) AS flaggedEvents`)) as unknown as [[Record<string, number>]];

    // A fresh app: the gauges of the one above may be cached from an earlier scrape (5 s).
    const app = createApp(t.deps);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const text = await scrape(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      expect(samples(text, 'outbox_pending')).toEqual([Number(counts[0]!.pending)]);
      expect(samples(text, 'outbox_oldest_pending_seconds')[0]).toBeGreaterThanOrEqual(120);
      expect(samples(text, 'stripe_events_unprocessed')).toEqual([Number(counts[0]!.unprocessed)]);
      expect(samples(text, 'needs_attention', { entity: 'booking' })).toEqual([Number(counts[0]!.flagged)]);
      expect(samples(text, 'needs_attention', { entity: 'stripe_event' })).toEqual([Number(counts[0]!.flaggedEvents)]);
      expect(samples(text, 'needs_attention', { entity: 'outbox' })).toEqual([Number(counts[0]!.failed)]);
      expect(Number(counts[0]!.flagged)).toBeGreaterThanOrEqual(1);
      expect(Number(counts[0]!.flaggedEvents)).toBeGreaterThanOrEqual(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('who may read /metrics', () => {
  it('refuses a loopback connection that carries X-Forwarded-For, even with trust proxy set: a proxy on this host forwards remote callers', async () => {
    const app = createApp({ ...t.deps, config: { ...t.deps.config, TRUST_PROXY_HOPS: 1 } });
    for (const header of ['X-Forwarded-For', 'Forwarded', 'X-Real-IP']) {
      const res = await request(app).get('/metrics').set(header, header === 'Forwarded' ? 'for=127.0.0.1' : '127.0.0.1');
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
      expect(res.text).not.toContain('process_cpu');
    }
  });

  it('serves a forwarded caller that presents METRICS_TOKEN as a Bearer token, and refuses a wrong one', async () => {
    const token = 'metrics-token-9f8e7d6c5b4a3210fedcba9876543210';
    const app = createApp({ ...t.deps, config: { ...t.deps.config, TRUST_PROXY_HOPS: 1, METRICS_TOKEN: token } });
    expect((await request(app).get('/metrics').set('X-Forwarded-For', '203.0.113.7').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    expect((await request(app).get('/metrics').set('X-Forwarded-For', '203.0.113.7').set('Authorization', `Bearer ${token}x`)).status).toBe(403);
    expect((await request(app).get('/metrics').set('X-Forwarded-For', '203.0.113.7')).status).toBe(403);
  });

  it('decides by the socket peer: a remote address needs the token, loopback (v4, v6, v4-mapped) does not', () => {
    const req = (remoteAddress: string, headers: Record<string, string> = {}) => ({ socket: { remoteAddress }, headers }) as unknown as IncomingMessage;
    for (const addr of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) expect(metricsAccessAllowed(req(addr), undefined)).toBe(true);
    for (const addr of ['10.0.0.5', '203.0.113.7', '::ffff:10.0.0.5', '1270.0.0.1']) {
      expect(metricsAccessAllowed(req(addr), undefined)).toBe(false);
      expect(metricsAccessAllowed(req(addr, { authorization: 'Bearer anything' }), undefined)).toBe(false);
      expect(metricsAccessAllowed(req(addr, { authorization: 'Bearer the-right-token-0123456789abcdef' }), 'the-right-token-0123456789abcdef')).toBe(true);
    }
  });
});
