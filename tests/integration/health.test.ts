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
          queue: { status: 'ok', latencyMs: expect.any(Number), workerHeartbeatAgeSeconds: expect.any(Number), oldestPendingOutboxSeconds: 0 },
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

  it('is 503 naming the queue when the oldest pending outbox row is older than HEALTH_OUTBOX_MAX_AGE_SECONDS, and 200 once it is dispatched', async () => {
    const [ins] = await t.db.insert(outbox).values({
      topic: 'stripe_refund',
      dedupeKey: `health-test-${Date.now()}`,
      payload: { bookingId: 1, paymentIntentId: 'pi_health' },
      availableAt: new Date(),
    });
    await t.db.execute(sql`UPDATE outbox SET created_at = NOW(3) - INTERVAL ${env.HEALTH_OUTBOX_MAX_AGE_SECONDS + 60} SECOND WHERE id = ${ins.insertId}`);
    try {
      const res = await request(t.baseUrl).get('/health/ready');
      expect(res.status).toBe(503);
      expect(res.body.failing).toEqual(['queue']);
      expect(res.body.checks.queue.error).toBe('outbox_backlog');
      expect(res.body.checks.queue.oldestPendingOutboxSeconds).toBeGreaterThan(env.HEALTH_OUTBOX_MAX_AGE_SECONDS);
    } finally {
      await t.db.update(outbox).set({ status: 'dispatched' }).where(eq(outbox.id, ins.insertId));
    }
    expect((await request(t.baseUrl).get('/health/ready')).status).toBe(200);
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
