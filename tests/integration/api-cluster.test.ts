import { describe, expect, it } from 'vitest';
import { useE2E } from '../support/lifecycle.js';

const t = useE2E({ env: { API_WORKERS: '2' } });

describe('API_WORKERS=2: one API process per core under node:cluster', () => {
  it('runs two API processes on one port, answers, and on SIGTERM stops both and exits 0', async () => {
    await t.api.waitForLog((l) => l.msg === 'starting API workers' && l.workers === 2);
    // Both workers listen (the test waited for the first); each logs its own line with its own pid.
    const second = async () => {
      for (;;) {
        const pids = new Set(t.api.logs.filter((l) => String(l.msg).startsWith('API listening')).map((l) => l.pid));
        if (pids.size === 2) return pids;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const pids = await second();
    expect(pids.has(t.api.child.pid)).toBe(false); // the primary serves nothing itself
    const res = await fetch(`${t.api.baseUrl}/health/live`);
    expect(res.status).toBe(200);
    expect(await t.api.stop('SIGTERM')).toBe(0);
    expect(t.api.logs.some((l) => l.msg === 'all API workers stopped')).toBe(true);
  });
});
