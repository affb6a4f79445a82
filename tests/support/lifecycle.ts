import { afterAll, beforeAll } from 'vitest';
import { startTestApp, type TestContext } from './harness.js';
import { startE2E, type E2EContext } from './e2e.js';

/**
 * Runs `start` before the tests of the enclosing file (or describe block) and `close()` after them, and
 * returns a stand-in for what it started: `const t = useTestApp();` then `t.db`, `t.trpc(...)` in tests.
 * Reading it before beforeAll has run (at collection time) throws rather than returning undefined.
 */
function useStarted<T extends { close(): Promise<void> }>(what: string, start: () => Promise<T>): T {
  let started: T | undefined;
  beforeAll(async () => {
    started = await start();
  });
  afterAll(async () => {
    await started?.close();
  });
  return new Proxy({} as T, {
    get(_, key) {
      if (!started) throw new Error(`${what} is not started yet (read ${String(key)} outside a test or hook)`);
      return Reflect.get(started, key);
    },
  });
}

/** The app in-process on its own database and Redis prefix (harness.ts), for this file or describe block. */
export const useTestApp = (opts?: Parameters<typeof startTestApp>[0]): TestContext => useStarted('the test app', () => startTestApp(opts));

/** The API as its own process (e2e.ts), for this file or describe block. */
export const useE2E = (opts?: Parameters<typeof startE2E>[0]): E2EContext => useStarted('the e2e API', () => startE2E(opts));
