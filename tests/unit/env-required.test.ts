import { describe, expect, it } from 'vitest';
import { parseEnv } from '../../server/env.js';
import { testEnv } from '../support/test-env.js';

// parseEnv is what every entrypoint runs at import; tests/integration/config.test.ts proves once that a
// refusal really stops a process with exit code 78.
const cases: [string, Record<string, string | undefined>, RegExp][] = [
  ['DATABASE_URL missing', { DATABASE_URL: undefined }, /- DATABASE_URL: DATABASE_URL is required/],
  ['DATABASE_URL not mysql://', { DATABASE_URL: 'postgres://db/x' }, /- DATABASE_URL: DATABASE_URL must be a mysql:\/\/ URL/],
  ['REDIS_URL missing', { REDIS_URL: undefined }, /- REDIS_URL: REDIS_URL is required/],
  ['JWT_SECRET missing', { JWT_SECRET: undefined }, /- JWT_SECRET: JWT_SECRET is required/],
  ['JWT_SECRET too short', { JWT_SECRET: 'k3Y!short-but-random' }, /JWT_SECRET must be at least 32 characters/],
  ['JWT_SECRET a known placeholder', { JWT_SECRET: 'your-secret-key-your-secret-key-123456' }, /JWT_SECRET looks like a placeholder/],
  ['JWT_SECRET changeme', { JWT_SECRET: 'changemechangemechangemechangeme!!' }, /JWT_SECRET looks like a placeholder/],
  ['JWT_SECRET a placeholder in capitals', { JWT_SECRET: 'X7#CHANGEME-q9Lw2Rt5Yp8Zs4Vb6Nm1Kj3Hg' }, /JWT_SECRET looks like a placeholder/],
  ['JWT_SECRET repetitive', { JWT_SECRET: 'abababababababababababababababababab' }, /JWT_SECRET is too repetitive/],
  ['REFRESH_TOKEN_PEPPER missing', { REFRESH_TOKEN_PEPPER: undefined }, /- REFRESH_TOKEN_PEPPER: REFRESH_TOKEN_PEPPER is required/],
  ['REFRESH_TOKEN_PEPPER too short', { REFRESH_TOKEN_PEPPER: 'x9!Qz' }, /REFRESH_TOKEN_PEPPER must be at least 32 characters/],
  ['STRIPE_SECRET_KEY missing', { STRIPE_SECRET_KEY: undefined }, /- STRIPE_SECRET_KEY: STRIPE_SECRET_KEY is required/],
  ['STRIPE_SECRET_KEY empty in .env style', { STRIPE_SECRET_KEY: '' }, /- STRIPE_SECRET_KEY: STRIPE_SECRET_KEY is required/],
  ['STRIPE_SECRET_KEY a publishable key', { STRIPE_SECRET_KEY: 'pk_test_abcdefgh12345678' }, /STRIPE_SECRET_KEY must look like sk_test_/],
  ['STRIPE_WEBHOOK_SECRET missing', { STRIPE_WEBHOOK_SECRET: undefined }, /- STRIPE_WEBHOOK_SECRET: STRIPE_WEBHOOK_SECRET is required/],
  ['STRIPE_WEBHOOK_SECRET malformed', { STRIPE_WEBHOOK_SECRET: 'not-a-webhook-secret' }, /STRIPE_WEBHOOK_SECRET must look like whsec_/],
  ['REFRESH_TOKEN_PEPPER equal to JWT_SECRET', { JWT_SECRET: 'q7Vd2Lx9Rk4Tz8Nw3Hc6Jp1Ys5Bm0Gf-shared', REFRESH_TOKEN_PEPPER: 'q7Vd2Lx9Rk4Tz8Nw3Hc6Jp1Ys5Bm0Gf-shared' }, /- REFRESH_TOKEN_PEPPER: must differ from JWT_SECRET/],
  ['STRIPE_API_BASE in production', { NODE_ENV: 'production', SMTP_URL: 'smtp://m.example.com', STRIPE_API_BASE: 'http://127.0.0.1:12111' }, /- STRIPE_API_BASE: must not be set in production/],
];

describe('parseEnv refuses a missing or weak variable, naming it', () => {
  it.each(cases)('%s', (_name, override, message) => {
    let error: unknown;
    try {
      parseEnv({ ...testEnv(), ...override });
    } catch (err) {
      error = err;
    }
    expect(error, 'parseEnv accepted it').toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^Invalid configuration, refusing to start:\n/);
    expect((error as Error).message).toMatch(message);
  });

  it('names every bad variable in one message, not only the first', () => {
    expect(() => parseEnv({ ...testEnv(), JWT_SECRET: undefined, REDIS_URL: undefined, STRIPE_WEBHOOK_SECRET: 'nope' })).toThrow(
      /- REDIS_URL: .*\n[\s\S]*- JWT_SECRET: .*\n[\s\S]*- STRIPE_WEBHOOK_SECRET: /,
    );
  });

  it('accepts the test configuration and fills the defaults', () => {
    const env = parseEnv(testEnv());
    expect(env).toMatchObject({ PORT: 3000, BOOKING_HOLD_MINUTES: 30, BODY_LIMIT: '100kb', REDIS_KEY_PREFIX: '', TRUST_PROXY_HOPS: 0 });
    expect(env).toMatchObject({ REFUND_CUTOFF_MINUTES: 120, SALES_CUTOFF_MINUTES: 60, MAX_UNPAID_BOOKINGS_PER_USER: 3, MAX_UNPAID_SEATS_PER_USER: 9, TRPC_MAX_BATCH_SIZE: 10 });
  });

  it('never echoes a refused secret back (the message goes to logs)', () => {
    const weak = 'changemechangemechangemechangeme!!';
    expect(() => parseEnv({ ...testEnv(), JWT_SECRET: weak })).toThrow(expect.objectContaining({ message: expect.not.stringContaining(weak) }));
  });
});
