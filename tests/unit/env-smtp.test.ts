import { describe, expect, it } from 'vitest';
import { parseEnv } from '../../server/env.js';
import { testEnv } from '../support/test-env.js';

describe('SMTP_URL in production', () => {
  it('is required: production without it refuses to start, naming the variable', () => {
    expect(() => parseEnv({ ...testEnv(), NODE_ENV: 'production' })).toThrow(/Invalid configuration, refusing to start:\n {2}- SMTP_URL: SMTP_URL is required in production/);
    // `SMTP_URL=` in a .env file is "not set".
    expect(() => parseEnv({ ...testEnv(), NODE_ENV: 'production', SMTP_URL: ' ' })).toThrow(/SMTP_URL is required in production/);
  });

  it('production with it starts', () => {
    expect(parseEnv({ ...testEnv(), NODE_ENV: 'production', SMTP_URL: 'smtp://mailer:pw@smtp.example.com:587' }).SMTP_URL).toBe('smtp://mailer:pw@smtp.example.com:587');
  });

  it.each(['development', 'test'])('is optional in %s (mail goes to .eml files)', (nodeEnv) => {
    expect(parseEnv({ ...testEnv(), NODE_ENV: nodeEnv }).SMTP_URL).toBeUndefined();
  });
});
