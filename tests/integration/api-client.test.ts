import { describe, expect, it } from 'vitest';
import { appCodeOf, createApiClient } from '../../server/client.js';
import { useTestApp } from '../support/lifecycle.js';
import { createFlight } from '../support/flights.js';
import { createUser } from '../support/users.js';

/** The frontend's entry point, server/client.ts, against the real app over HTTP. */

const t = useTestApp();

describe('createApiClient', () => {
  it('calls procedures with the token getToken returns at each call, and exposes the domain code of a refusal', async () => {
    const user = await createUser(t.db);
    let token: string | null = null;
    const api = createApiClient(`${t.baseUrl}/`, async () => token);

    const anonymous = await api.auth.me.query().catch((e: unknown) => e);
    expect(appCodeOf(anonymous)).toBe('UNAUTHORIZED');

    token = user.accessToken;
    expect((await api.auth.me.query()).user.email).toBe(user.email);

    const flightId = await createFlight(t.db, { seats: 1 });
    const booking = await api.bookings.create.mutate({ flightId, passengers: [{ firstName: 'Noura', lastName: 'Al-Harbi' }], idempotencyKey: 'client-test-1' });
    expect(booking).toMatchObject({ status: 'pending_payment', flightId });
    const soldOut = await api.bookings.create
      .mutate({ flightId, passengers: [{ firstName: 'Huda', lastName: 'Alotaibi' }], idempotencyKey: 'client-test-2' })
      .catch((e: unknown) => e);
    expect(appCodeOf(soldOut)).toBe('SOLD_OUT');
    expect(appCodeOf(new Error('network down'))).toBeUndefined();
  });
});
