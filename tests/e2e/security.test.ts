import { describe, expect, it } from 'vitest';
import { TRPCClientError } from '@trpc/client';
import jwt from 'jsonwebtoken';
import Stripe from 'stripe';
import { tableCounts } from '../support/e2e.js';
import { createUser } from '../support/users.js';
import { useE2E } from '../support/lifecycle.js';

const e = useE2E();

async function postWebhook(payload: string, header?: string) {
  const res = await fetch(`${e.api.baseUrl}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(header ? { 'stripe-signature': header } : {}) },
    body: payload,
  });
  return res.status;
}

describe('e2e security checks', () => {
  it('a webhook with a forged, stale or missing signature is answered 400 and leaves no row anywhere', async () => {
    const payload = JSON.stringify({ id: 'evt_forged_1', object: 'event', type: 'checkout.session.completed', created: Math.floor(Date.now() / 1000), data: { object: { id: 'cs_x', metadata: { bookingId: '1' } } } }, null, 2);
    const before = await tableCounts(e.databaseUrl);
    expect(await postWebhook(payload)).toBe(400);
    expect(await postWebhook(payload, Stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_forgedforgedforgedforged' }))).toBe(400);
    expect(await postWebhook(payload, Stripe.webhooks.generateTestHeaderString({ payload, secret: process.env.STRIPE_WEBHOOK_SECRET!, timestamp: Math.floor(Date.now() / 1000) - 3600 }))).toBe(400);
    expect(await tableCounts(e.databaseUrl)).toEqual(before);
  });

  it('an expired or forged access token gets UNAUTHORIZED from tRPC', async () => {
    const user = await createUser(e.db);
    const expired = jwt.sign({ role: 'traveller' }, process.env.JWT_SECRET!, {
      algorithm: 'HS256', subject: String(user.id), issuer: 'flight-booking-api', audience: 'flight-booking-clients', jwtid: 'x', expiresIn: -60,
    });
    const forged = jwt.sign({ role: 'admin' }, 'an-attacker-secret-that-is-long-enough-123', {
      algorithm: 'HS256', subject: String(user.id), issuer: 'flight-booking-api', audience: 'flight-booking-clients', jwtid: 'y', expiresIn: 600,
    });
    for (const token of [expired, forged, `${user.accessToken.slice(0, -2)}xx`]) {
      const err = await e.trpc(token).bookings.list.query({ limit: 5 }).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(TRPCClientError);
      expect((err as TRPCClientError<any>).data).toMatchObject({ code: 'UNAUTHORIZED', httpStatus: 401 });
    }
    // And the real token works, so the refusals above are about the tokens.
    expect((await e.trpc(user.accessToken).bookings.list.query({ limit: 5 })).items).toEqual([]);
  });
});
