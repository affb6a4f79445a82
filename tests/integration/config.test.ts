import { describe, expect, it } from 'vitest';
import { runEntrypoint } from '../support/spawn.js';
import { testEnv } from '../support/test-env.js';

// Each case starts the real API entrypoint with one variable missing or weak and reads its exit.
const good = { ...testEnv(), DATABASE_URL: 'mysql://root@127.0.0.1:1/never_connected', PORT: '0' };

const cases: [string, Record<string, string | undefined>, RegExp][] = [
  ['DATABASE_URL missing', { DATABASE_URL: undefined }, /DATABASE_URL: DATABASE_URL is required/],
  ['REDIS_URL missing', { REDIS_URL: undefined }, /REDIS_URL: REDIS_URL is required/],
  ['JWT_SECRET missing', { JWT_SECRET: undefined }, /JWT_SECRET: JWT_SECRET is required/],
  ['JWT_SECRET too short', { JWT_SECRET: 'k3Y!short-but-random' }, /JWT_SECRET must be at least 32 characters/],
  ['JWT_SECRET a known placeholder', { JWT_SECRET: 'your-secret-key-your-secret-key-123456' }, /JWT_SECRET looks like a placeholder/],
  ['JWT_SECRET changeme', { JWT_SECRET: 'changemechangemechangemechangeme!!' }, /JWT_SECRET looks like a placeholder/],
  ['JWT_SECRET repetitive', { JWT_SECRET: 'abababababababababababababababababab' }, /JWT_SECRET is too repetitive/],
  ['REFRESH_TOKEN_PEPPER missing', { REFRESH_TOKEN_PEPPER: undefined }, /REFRESH_TOKEN_PEPPER: REFRESH_TOKEN_PEPPER is required/],
  ['REFRESH_TOKEN_PEPPER too short', { REFRESH_TOKEN_PEPPER: 'x9!Qz' }, /REFRESH_TOKEN_PEPPER must be at least 32 characters/],
  ['STRIPE_SECRET_KEY missing', { STRIPE_SECRET_KEY: undefined }, /STRIPE_SECRET_KEY: STRIPE_SECRET_KEY is required/],
  ['STRIPE_SECRET_KEY empty in .env style', { STRIPE_SECRET_KEY: '' }, /STRIPE_SECRET_KEY: STRIPE_SECRET_KEY is required/],
  ['STRIPE_WEBHOOK_SECRET missing', { STRIPE_WEBHOOK_SECRET: undefined }, /STRIPE_WEBHOOK_SECRET: STRIPE_WEBHOOK_SECRET is required/],
  ['STRIPE_WEBHOOK_SECRET malformed', { STRIPE_WEBHOOK_SECRET: 'not-a-webhook-secret' }, /STRIPE_WEBHOOK_SECRET must look like whsec_/],
];

describe('configuration', () => {
  it.concurrent.each(cases)('the API refuses to start when %s, naming the variable', async (_name, override, message) => {
    const { code, stderr, stdout } = await runEntrypoint('server/index.ts', { ...good, ...override });
    expect(code).toBe(78);
    expect(stderr).toMatch(/Invalid configuration, refusing to start/);
    expect(stderr).toMatch(message);
    expect(stdout).not.toMatch(/listening/);
  });

  it('the worker refuses to start without JWT_SECRET too', async () => {
    const { code, stderr } = await runEntrypoint('server/worker.ts', { ...good, JWT_SECRET: undefined });
    expect(code).toBe(78);
    expect(stderr).toMatch(/JWT_SECRET/);
  });
});
