import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EMULATOR_BASE, placeholderStripeKey, planStart } from '../../server/scripts/start-plan.js';

/** The .env npm start writes on a fresh clone: .env.example with the generated values. */
const freshDotenv = () => ({ ...parseEnv(readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')), STRIPE_SECRET_KEY: placeholderStripeKey() });

describe('npm start: where Checkout sends the traveller back (APP_BASE_URL)', () => {
  it('is the demo page on the default port on a fresh clone', () => {
    expect(planStart(freshDotenv()).env.APP_BASE_URL).toBe('http://localhost:3000');
  });

  it('follows a PORT set in .env or in the environment (which wins, as it does for the children)', () => {
    expect(planStart({ ...freshDotenv(), PORT: '4000' }).env.APP_BASE_URL).toBe('http://localhost:4000');
    expect(planStart({ ...freshDotenv(), PORT: '4000' }, { PORT: '5050' }).env.APP_BASE_URL).toBe('http://localhost:5050');
    expect(planStart(freshDotenv(), { PORT: '' }).env.APP_BASE_URL).toBe('http://localhost:3000');
  });

  it('is left alone when APP_BASE_URL is set, in .env or in the environment', () => {
    expect(planStart({ ...freshDotenv(), PORT: '4000', APP_BASE_URL: 'http://localhost:5173' }).env).not.toHaveProperty('APP_BASE_URL');
    expect(planStart({ ...freshDotenv(), PORT: '4000' }, { APP_BASE_URL: 'https://app.example.test' }).env).not.toHaveProperty('APP_BASE_URL');
  });
});

describe('npm start: the Stripe emulator', () => {
  it('runs for the generated placeholder key and is off for a real test key', () => {
    const plan = planStart(freshDotenv());
    expect(plan.emulatorBase).toBe(DEFAULT_EMULATOR_BASE);
    expect(plan.scripts).toContain('server/dev/stripe-emulator/main.ts');
    expect(plan.env.STRIPE_API_BASE).toBe(DEFAULT_EMULATOR_BASE);
    const real = planStart({ ...freshDotenv(), STRIPE_SECRET_KEY: 'sk_test_51RealAccountKeyAbcdef' });
    expect(real.emulatorBase).toBeNull();
    expect(real.scripts).toEqual(['server/index.ts', 'server/worker.ts']);
    expect(real.env).not.toHaveProperty('STRIPE_API_BASE');
  });
});
