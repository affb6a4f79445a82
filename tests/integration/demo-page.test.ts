import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoRouter } from '../../server/dev/demo/router.js';
import { errorHandler } from '../../server/http/error-handler.js';
import { deliveryMessageId } from '../../server/services/email/deliveries.js';
import { emlFileSuffix, mailDomain } from '../../server/services/email/transport.js';
import { bookAndOpenCheckout } from '../support/booking-flow.js';
import { startTestApp, type TestContext } from '../support/harness.js';
import { createUser } from '../support/users.js';

/**
 * The demo page's server side (app.ts mounts it in development only): the page, its script bundled by
 * esbuild for the browser, and the confirmation e-mail for the booking's owner alone. The journey
 * through it in a real browser is a later browser test.
 */

let t: TestContext;
let mailDir: string;
let demo: express.Express;
beforeAll(async () => {
  t = await startTestApp();
  mailDir = await mkdtemp(path.join(tmpdir(), 'demo-mail-'));
  demo = express().use(demoRouter({ ...t.deps, config: { ...t.deps.config, MAIL_DIR: mailDir } })).use(errorHandler);
});
afterAll(async () => {
  await t?.close();
  await rm(mailDir, { recursive: true, force: true });
});

describe('the demo page', () => {
  it('is served at / and at /bookings/:id, where Checkout sends the traveller back', async () => {
    for (const url of ['/', '/bookings/42']) {
      const res = await request(demo).get(url);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toContain('<script type="module" src="/demo.js">');
    }
  });

  it('is not served by the app outside development', async () => {
    expect((await request(t.baseUrl).get('/')).status).toBe(404);
  });

  it("bundles its script for the browser from the typed client, with no server code in it", async () => {
    const res = await request(demo).get('/demo.js');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(res.text).toContain('/trpc'); // createApiClient's link
    expect(res.text).toContain('IDEMPOTENCY_IN_PROGRESS');
    for (const serverOnly of ['drizzle', 'mysql2', 'ioredis', 'process.env', 'JWT_SECRET']) expect(res.text).not.toContain(serverOnly);
  });

  it("hands the confirmation e-mail in MAIL_DIR to the booking's owner only", async () => {
    const { user, booking } = await bookAndOpenCheckout(t);
    const suffix = emlFileSuffix(deliveryMessageId(booking.id, 'booking_confirmation', mailDomain(t.deps.config.MAIL_FROM)));
    const url = `/demo/bookings/${booking.id}/email`;

    const notYet = await request(demo).get(url).set('Authorization', `Bearer ${user.accessToken}`);
    expect([notYet.status, notYet.body.error.code]).toEqual([404, 'NOT_FOUND']);

    // Booking ids start again in every database: a file left by an earlier one (a reset, a restore) is older.
    await writeFile(path.join(mailDir, `2025-06-01T00-00-00-000Z-${suffix}`), 'Subject: An earlier database\r\n\r\nOld.\r\n');
    await writeFile(path.join(mailDir, `2026-01-01T00-00-00-000Z-${suffix}`), 'Subject: Your booking\r\n\r\nConfirmed.\r\n');
    const mine = await request(demo).get(url).set('Authorization', `Bearer ${user.accessToken}`).buffer(true).parse((res, done) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => done(null, text));
    });
    expect(mine.status).toBe(200);
    expect(mine.headers['content-type']).toMatch(/^message\/rfc822/);
    expect(mine.body).toContain('Subject: Your booking'); // the newest file

    const stranger = await createUser(t.db);
    expect((await request(demo).get(url).set('Authorization', `Bearer ${stranger.accessToken}`)).status).toBe(404);
    expect((await request(demo).get(url)).status).toBe(401);
  });
});
