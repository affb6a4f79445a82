/**
 * The typed client for the web frontend. A separate frontend repository imports only types from the
 * server (`type AppRouter`, erased at build time) and this small factory, so no server code reaches its
 * bundle. Procedure names, inputs, outputs and errors (`error.data.appCode`) are checked by TypeScript.
 *
 *   const api = createApiClient('http://localhost:3000', () => session.accessToken);
 *   const { flights } = await api.flights.search.query({ origin: 'RUH', destination: 'JED', date, passengers: 1 });
 */
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from './trpc/router.js';

export type { AppRouter };
/** Input and output types per procedure: `RouterOutputs['bookings']['byId']`. */
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

/** The access token for the next call, or null when signed out; may refresh it first. */
export type GetToken = () => string | null | undefined | Promise<string | null | undefined>;

export function createApiClient(baseUrl: string, getToken: GetToken = () => null) {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${baseUrl.replace(/\/+$/, '')}/trpc`,
        async headers() {
          const token = await getToken();
          return token ? { authorization: `Bearer ${token}` } : {};
        },
      }),
    ],
  });
}

export type ApiClient = ReturnType<typeof createApiClient>;

/** The domain code of a failed call (`SOLD_OUT`, `IDEMPOTENCY_IN_PROGRESS`, ...), or undefined for a network failure. */
export function appCodeOf(err: unknown): string | undefined {
  if (!(err instanceof TRPCClientError)) return undefined;
  const data: unknown = err.data;
  return typeof data === 'object' && data !== null && 'appCode' in data && typeof data.appCode === 'string' ? data.appCode : undefined;
}
