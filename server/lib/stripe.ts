import Stripe from 'stripe';

export type { Stripe };

/**
 * The Stripe client. STRIPE_API_BASE (tests, stripe-mock) points the real SDK at a Stripe-compatible
 * server; in production it is unset and the SDK talks to api.stripe.com.
 */
export function createStripe(secretKey: string, apiBase?: string, opts: { timeoutMs?: number; maxNetworkRetries?: number } = {}): Stripe {
  const base = apiBase ? new URL(apiBase) : undefined;
  return new Stripe(secretKey, {
    maxNetworkRetries: opts.maxNetworkRetries ?? 2,
    timeout: opts.timeoutMs ?? 10_000,
    appInfo: { name: 'flight-booking-backend' },
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
          protocol: base.protocol.replace(':', '') as 'http' | 'https',
        }
      : {}),
  });
}
