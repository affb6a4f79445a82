import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import request from 'supertest';
import { startTestApp, type TestContext } from '../support/harness.js';
import { sharedProcessEnv, spawnEntrypoint, type SpawnedProcess } from '../support/spawn.js';
import { eventually } from '../support/e2e.js';
import { startSentrySink, type SentrySink } from '../support/sentry-sink.js';
import { total } from '../support/metrics.js';
import { WORKER_HEARTBEAT_KEY } from '../../server/lib/worker-heartbeat.js';

/**
 * The worker process as operations see it: its heartbeat in the API's readiness probe, its own
 * /metrics on WORKER_METRICS_PORT, and a failed job reported to Sentry (a loopback server plays
 * Sentry's ingest endpoint).
 */
let t: TestContext;
let sink: SentrySink;
let worker: SpawnedProcess;
let metricsUrl: string;
const RELEASE = 'flight-booking-backend@e2e-worker';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  t = await startTestApp();
  sink = await startSentrySink();
  const port = await freePort();
  metricsUrl = `http://127.0.0.1:${port}`;
  await t.redis.del(WORKER_HEARTBEAT_KEY);
});
afterAll(async () => {
  await worker?.stop();
  await sink?.close();
  await t?.close();
});

describe('the worker, operated', () => {
  it("is what makes the API ready: no heartbeat is a 503 naming the queue; once the worker runs, 200", async () => {
    const before = await request(t.baseUrl).get('/health/ready');
    expect(before.status).toBe(503);
    expect(before.body.failing).toEqual(['queue']);

    worker = spawnEntrypoint('server/worker.ts', {
      ...sharedProcessEnv({ databaseUrl: t.databaseUrl, redisKeyPrefix: t.redisPrefix, stripeApiBase: t.fakeStripe.url }),
      WORKER_METRICS_PORT: metricsUrl.split(':')[2],
      SENTRY_DSN: sink.dsn,
      SENTRY_RELEASE: RELEASE,
    });
    await worker.waitForLog((l) => l.msg === 'worker started');
    const beat = JSON.parse(await eventually(() => t.redis.get(WORKER_HEARTBEAT_KEY))) as { pid: number };
    expect(beat.pid).toBe(worker.child.pid);
    expect(await t.redis.ttl(WORKER_HEARTBEAT_KEY)).toBeGreaterThan(0);
    const after = await request(t.baseUrl).get('/health/ready');
    expect(after.status).toBe(200);
    expect(after.body.checks.queue).toMatchObject({ status: 'ok', workerHeartbeatAgeSeconds: expect.any(Number) });
  });

  it('serves its own metrics on loopback: job durations by queue, name and outcome, and jobs per queue and state', async () => {
    const text = await eventually(async () => {
      const body = await (await fetch(`${metricsUrl}/metrics`)).text();
      return total(body, 'job_duration_seconds_count', { queue: 'maintenance', name: 'outbox-relay', outcome: 'completed' }) >= 1 ? body : null;
    }, 20_000);
    for (const queue of ['email', 'stripe', 'webhookRetry', 'reconciliation', 'maintenance']) {
      for (const state of ['waiting', 'active', 'delayed', 'failed']) expect(text).toMatch(new RegExp(`^queue_jobs\\{queue="${queue}",state="${state}"\\} \\d+$`, 'm'));
    }
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    const forwarded = await fetch(`${metricsUrl}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(forwarded.status).toBe(403);
  });

  it('reports a failed job to Sentry with the job name, queue, component and release', async () => {
    await t.db.execute(sql`RENAME TABLE outbox TO outbox_moved_away`);
    try {
      const event = await sink.waitForEvent((ev) => ev.tags?.job_name === 'outbox-relay', 20_000);
      expect(event.tags).toMatchObject({ job_name: 'outbox-relay', queue: '{maintenance}', component: 'worker', request_id: expect.stringMatching(/^job:outbox-relay:/) });
      expect(event.release).toBe(RELEASE);
    } finally {
      await t.db.execute(sql`RENAME TABLE outbox_moved_away TO outbox`);
    }
    const text = await (await fetch(`${metricsUrl}/metrics`)).text();
    expect(total(text, 'job_duration_seconds_count', { queue: 'maintenance', name: 'outbox-relay', outcome: 'failed' })).toBeGreaterThanOrEqual(1);
  });
});
