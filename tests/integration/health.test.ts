import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { createApp } from '../../server/app.js';
import { createDatabase } from '../../server/db/client.js';
import { createRedis } from '../../server/lib/redis.js';
import { createStripe } from '../../server/lib/stripe.js';
import { env } from '../../server/env.js';
import { REDIS_URL } from '../support/test-env.js';
import { useTestApp } from '../support/lifecycle.js';

const t = useTestApp();

describe('GET /health', () => {
  it('is 200 with both checks ok when MySQL and Redis answer', async () => {
    const res = await request(t.baseUrl).get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', checks: { database: { status: 'ok' }, redis: { status: 'ok' } } });
  });

  it('is 503 naming the database when the database is unreachable', async () => {
    const unreachable = createDatabase('mysql://root@127.0.0.1:1/nowhere', { connectionLimit: 1 });
    const redis = createRedis(REDIS_URL);
    const app = createApp({ ...t.deps, db: unreachable.db, redis, stripe: createStripe(env.STRIPE_SECRET_KEY, t.fakeStripe.url) });
    try {
      const res = await request(app).get('/health');
      expect(res.status).toBe(503);
      expect(res.body.status).toBe('error');
      expect(res.body.checks.database.status).toBe('error');
      expect(res.body.checks.database.error).toBe('unavailable'); // never the driver's text (hosts, users)
      expect(res.body.checks.redis.status).toBe('ok');
      expect(JSON.stringify(res.body)).not.toMatch(/\n\s+at /); // no stack
    } finally {
      redis.disconnect();
      await unreachable.close().catch(() => undefined);
    }
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
