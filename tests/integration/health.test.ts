import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import express from 'express';
import { eq, sql } from 'drizzle-orm';
import { createApp } from '../../server/app.js';
import { createDatabase } from '../../server/db/client.js';
import { outbox } from '../../server/db/schema/index.js';
import { createRedis } from '../../server/lib/redis.js';
import { createStripe } from '../../server/lib/stripe.js';
import { env } from '../../server/env.js';
import { healthRouter } from '../../server/http/health.js';
import { WORKER_HEARTBEAT_KEY, writeWorkerHeartbeat } from '../../server/lib/worker-heartbeat.js';
import { REDIS_URL } from '../support/test-env.js';
import { samples } from '../support/metrics.js';
import { useTestApp } from '../support/lifecycle.js';

const t = useTestApp();

/** A TCP server that accepts connections and never answers: a Redis that hangs. */
let silent: Server;
const silentSockets: Socket[] = [];
beforeAll(async () => {
  silent = createServer((socket) => void silentSockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const socket of silentSockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

// As a running worker would (server/worker.ts renews it every 15 s).
beforeEach(async () => {
  await writeWorkerHeartbeat(t.redis, new Date());
});

describe('GET /health/live', () => {
  it('is 200 whatever the dependencies do: a database outage must not get every pod restarted', async () => {
    const unreachable = createDatabase('mysql://root@127.0.0.1:1/nowhere', { connectionLimit: 1 });
    const app = createApp({ ...t.deps, db: unreachable.db });
    try {
      const res = await request(app).get('/health/live');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'ok' });
    } finally {
      await unreachable.close().catch(() => undefined);
    }
  });
});

describe('GET /health/ready and /health', () => {
  it('is 200 with the database, Redis and the queue ok, each with its latency', async () => {
    for (const path of ['/health/ready', '/health']) {
      const res = await request(t.baseUrl).get(path);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        status: 'ok',
        checks: {
          database: { status: 'ok', latencyMs: expect.any(Number) },
          redis: { status: 'ok', latencyMs: expect.any(Number) },
          queue: {
            status: 'ok',
            latencyMs: expect.any(Number),
            workerHeartbeatAgeSeconds: expect.any(Number),
            oldestPendingOutboxSeconds: 0,
            oldestUnrelayedOutboxSeconds: 0,
          },
        },
      });
    }
  });

  it('is 503 naming the queue when no worker renewed its heartbeat within 60 s', async () => {
    await t.redis.del(WORKER_HEARTBEAT_KEY);
    const res = await request(t.baseUrl).get('/health/ready');
    expect(res.status).toBe(503);
    expect(res.body.failing).toEqual(['queue']);
    expect(res.body.checks.queue).toMatchObject({ status: 'error', error: 'no_worker_heartbeat', workerHeartbeatAgeSeconds: null });
    expect(res.body.checks.database.status).toBe('ok');
  });

  /** An outbox row committed and due `ageSeconds` ago, and handed to the queue then (`handedOver`) or never. */
  async function outboxRow(topic: string, ageSeconds: number, handedOver: boolean, attempts = 0) {
    const [ins] = await t.db.insert(outbox).values({
      topic,
      dedupeKey: `health-test-${topic}-${Date.now()}-${Math.random()}`,
      payload: { bookingId: 1, paymentIntentId: 'pi_health' },
      availableAt: new Date(),
      attempts,
    });
    const at = sql`NOW(3) - INTERVAL ${ageSeconds} SECOND`;
    await t.db.execute(sql`UPDATE outbox SET created_at = ${at}, available_at = ${at}, enqueued_at = ${handedOver ? at : null} WHERE id = ${ins.insertId}`);
    return ins.insertId;
  }
  const overAge = env.HEALTH_OUTBOX_MAX_AGE_SECONDS + 60;

  it('is 503 naming the queue (outbox_not_relayed) when a due outbox row has waited longer than HEALTH_OUTBOX_MAX_AGE_SECONDS to be handed to the queue, and 200 once it is', async () => {
    const id = await outboxRow('stripe_refund', overAge, false);
    try {
      const res = await request(t.baseUrl).get('/health/ready');
      expect(res.status).toBe(503);
      expect(res.body.failing).toEqual(['queue']);
      expect(res.body.checks.queue).toMatchObject({ status: 'error', error: 'outbox_not_relayed' });
      expect(res.body.checks.queue.oldestUnrelayedOutboxSeconds).toBeGreaterThan(env.HEALTH_OUTBOX_MAX_AGE_SECONDS);

      // Requeued by outbox:retry just now (committed long ago, due again from now): not waiting yet.
      await t.db.execute(sql`UPDATE outbox SET available_at = NOW(3) WHERE id = ${id}`);
      expect(await request(t.baseUrl).get('/health/ready')).toMatchObject({ status: 200, body: { checks: { queue: { oldestUnrelayedOutboxSeconds: 0 } } } });

      // Handed to the queue: the relay did its job; what remains is a backlog, not a stuck relay.
      await t.db.execute(sql`UPDATE outbox SET available_at = created_at, enqueued_at = NOW(3) WHERE id = ${id}`);
      const handed = await request(t.baseUrl).get('/health/ready');
      expect(handed.status).toBe(200);
      expect(handed.body.checks.queue).toMatchObject({ status: 'degraded', error: 'outbox_backlog', oldestUnrelayedOutboxSeconds: 0 });
    } finally {
      await t.db.update(outbox).set({ status: 'dispatched' }).where(eq(outbox.id, id));
    }
    expect(await request(t.baseUrl).get('/health/ready')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('stays 200 through a long SMTP outage: e-mails the queue retries with back-off are a degraded outbox_backlog, still counted in /metrics', async () => {
    const id = await outboxRow('send_booking_confirmation', overAge, true, 6);
    try {
      for (const path of ['/health/ready', '/health']) {
        const res = await request(t.baseUrl).get(path);
        expect(res.status).toBe(200);
        expect(res.body.status).toBe('degraded');
        expect(res.body.failing).toBeUndefined();
        expect(res.body.checks.queue).toMatchObject({ status: 'degraded', error: 'outbox_backlog', oldestUnrelayedOutboxSeconds: 0 });
        expect(res.body.checks.queue.oldestPendingOutboxSeconds).toBeGreaterThan(env.HEALTH_OUTBOX_MAX_AGE_SECONDS);
      }
      const metrics = await request(t.baseUrl).get('/metrics');
      expect(metrics.status).toBe(200);
      expect(samples(metrics.text, 'outbox_oldest_pending_seconds')[0]).toBeGreaterThan(env.HEALTH_OUTBOX_MAX_AGE_SECONDS);
    } finally {
      await t.db.update(outbox).set({ status: 'dispatched' }).where(eq(outbox.id, id));
    }
  });

  it('is 503 naming the database when the database is unreachable, with no driver text or stack', async () => {
    const unreachable = createDatabase('mysql://root@127.0.0.1:1/nowhere', { connectionLimit: 1 });
    const redis = createRedis(REDIS_URL, { keyPrefix: t.redisPrefix });
    const app = createApp({ ...t.deps, db: unreachable.db, redis, stripe: createStripe(env.STRIPE_SECRET_KEY, t.fakeStripe.url) });
    try {
      const res = await request(app).get('/health');
      expect(res.status).toBe(503);
      expect(res.body.status).toBe('error');
      expect(res.body.failing).toContain('database');
      expect(res.body.checks.database).toMatchObject({ status: 'error', error: 'unavailable' }); // never the driver's text (hosts, users)
      expect(res.body.checks.redis.status).toBe('ok');
      expect(JSON.stringify(res.body)).not.toMatch(/\n\s+at /); // no stack
    } finally {
      redis.disconnect();
      await unreachable.close().catch(() => undefined);
    }
  });

  it('gives each check its own timeout: a Redis that never answers is a timeout of the Redis check, degraded with 200 (the API serves without it), and the database still reports ok', async () => {
    const hanging = createRedis(`redis://127.0.0.1:${(silent.address() as AddressInfo).port}`);
    hanging.on('error', () => undefined);
    const app = createApp({ ...t.deps, redis: hanging });
    try {
      const res = await request(app).get('/health/ready');
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('degraded');
      expect(res.body.checks.redis).toMatchObject({ status: 'degraded', error: 'timeout' });
      expect(res.body.checks.queue).toMatchObject({ status: 'degraded', error: 'redis_unavailable' });
      expect(res.body.checks.database.status).toBe('ok');
      expect(res.body.failing).toBeUndefined();
    } finally {
      hanging.disconnect();
    }
  });

  it('reports an optional part that fails as degraded and stays 200', async () => {
    const app = express().use(healthRouter(t.deps, { searchCache: async () => Promise.reject(new Error('cache down')) }));
    const res = await request(app).get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.checks.searchCache).toMatchObject({ status: 'degraded', error: 'unavailable' });
  });
});

describe('REST error envelope', () => {
  it('answers an unknown route with 404 in the envelope, carrying the request id', async () => {
    const res = await request(t.baseUrl).get('/nope').set('X-Request-Id', 'client-supplied-0001');
    expect(res.status).toBe(404);
    expect(res.headers['x-request-id']).toBe('client-supplied-0001');
    expect(res.body).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String), requestId: 'client-supplied-0001' } });
  });
});
