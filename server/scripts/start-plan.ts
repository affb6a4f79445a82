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

export interface StartPlan {
  /** Where the emulator listens and the SDK is sent; null when a real Stripe key is configured. */
  emulatorBase: string | null;
  /** Entrypoints, each run as `node --import tsx <script>` from the repository root. */
  scripts: string[];
  /** Set in every child's environment, over what .env says. */
  env: Record<string, string>;
}

export function planStart(dotenv: Record<string, string | undefined>): StartPlan {
  const emulatorBase = PLACEHOLDER_STRIPE_KEY.test(dotenv.STRIPE_SECRET_KEY ?? '') ? dotenv.STRIPE_API_BASE || DEFAULT_EMULATOR_BASE : null;
  return {
    emulatorBase,
    scripts: ['server/index.ts', 'server/worker.ts', ...(emulatorBase ? ['server/dev/stripe-emulator/main.ts'] : [])],
    env: emulatorBase ? { STRIPE_API_BASE: emulatorBase } : {},
  };
}
