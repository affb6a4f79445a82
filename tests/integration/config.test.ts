import { describe, expect, it } from 'vitest';
import { runEntrypoint } from '../support/spawn.js';
import { testEnv } from '../support/test-env.js';

// The messages are parseEnv's (tests/unit/env-required.test.ts); this proves once that a refusal stops
// the real entrypoint before it listens, with EX_CONFIG, the message on stderr.
describe('configuration', () => {
  it('the API exits with code 78 when a secret is missing, naming it on stderr, and never listens', async () => {
    const { code, stderr, stdout } = await runEntrypoint('server/index.ts', {
      ...testEnv(),
      DATABASE_URL: 'mysql://root@127.0.0.1:1/never_connected',
      PORT: '0',
      JWT_SECRET: undefined,
    });
    expect(code).toBe(78);
    expect(stderr).toMatch(/Invalid configuration, refusing to start:\n {2}- JWT_SECRET: JWT_SECRET is required/);
    expect(stdout).not.toMatch(/listening/);
  });
});
