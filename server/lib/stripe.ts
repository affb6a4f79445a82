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

/** Failures a retry may cure: Stripe unreachable, timing out, rate limiting, or its own 5xx. */
export function isTransientStripeError(err: unknown): boolean {
  if (!(err instanceof Stripe.errors.StripeError)) return false;
  if (err instanceof Stripe.errors.StripeConnectionError || err instanceof Stripe.errors.StripeRateLimitError) return true;
  if (err instanceof Stripe.errors.StripeAPIError) return true;
  // 409: another request with the same idempotency key is still running at Stripe; retrying is safe.
  // (A 400 idempotency_error, the same key with other parameters, is a bug and stays permanent.)
  if (err.statusCode === 409) return true;
  return (err.statusCode ?? 0) >= 500;
}

export function stripeErrorSummary(err: unknown): string {
  if (err instanceof Stripe.errors.StripeError) return `${err.type}${err.code ? `/${err.code}` : ''}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
