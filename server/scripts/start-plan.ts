/**
 * What `npm start` runs, decided from the .env it wrote: the API and the worker, plus the Stripe
 * emulator while STRIPE_SECRET_KEY is the generated placeholder. A module of its own so the browser
 * test (tests/e2e/browser-journey.test.ts) starts the very same processes with the same wiring.
 */
import { randomBytes } from 'node:crypto';

/** A development key that no Stripe account knows: while it is in .env, Checkout runs against the emulator. */
export const placeholderStripeKey = (): string => `sk_test_dev${randomBytes(16).toString('hex')}`;
const PLACEHOLDER_STRIPE_KEY = /^sk_test_dev[0-9a-f]{32}$/;
export const DEFAULT_EMULATOR_BASE = 'http://127.0.0.1:12180';

const DEFAULT_PORT = '3000';

export interface StartPlan {
  /** Where the emulator listens and the SDK is sent; null when a real Stripe key is configured. */
  emulatorBase: string | null;
  /** Entrypoints, each run as `node --import tsx <script>` from the repository root. */
  scripts: string[];
  /** Set in every child's environment, over what .env says. */
  env: Record<string, string>;
}

/**
 * `dotenv` is the .env npm start wrote; `environment` its own environment, which wins over .env in every
 * child (`--env-file` never overrides a variable already set), so it wins here too. Empty means unset.
 */
export function planStart(dotenv: Record<string, string | undefined>, environment: Record<string, string | undefined> = {}): StartPlan {
  const setting = (name: string) => environment[name]?.trim() || dotenv[name]?.trim() || undefined;
  const emulatorBase = PLACEHOLDER_STRIPE_KEY.test(setting('STRIPE_SECRET_KEY') ?? '') ? setting('STRIPE_API_BASE') || DEFAULT_EMULATOR_BASE : null;
  // Checkout sends the traveller back to the demo page this API serves: on the port it listens on
  // (`PORT=4000 npm start`), not on the default one, unless APP_BASE_URL says where the web app is.
  const appBaseUrl: Record<string, string> = setting('APP_BASE_URL') ? {} : { APP_BASE_URL: `http://localhost:${setting('PORT') ?? DEFAULT_PORT}` };
  return {
    emulatorBase,
    scripts: ['server/index.ts', 'server/worker.ts', ...(emulatorBase ? ['server/dev/stripe-emulator/main.ts'] : [])],
    env: { ...appBaseUrl, ...(emulatorBase ? { STRIPE_API_BASE: emulatorBase } : {}) },
  };
}
