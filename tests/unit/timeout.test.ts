import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TimeoutError, withTimeout } from '../../server/lib/timeout.js';

const SERVER = new URL('../../server/', import.meta.url).pathname;

describe('withTimeout (server/lib/timeout.ts)', () => {
  it('passes the value or the rejection of a promise that settles', async () => {
    await expect(withTimeout(Promise.resolve(42), 60_000, 'answer')).resolves.toBe(42);
    await expect(withTimeout(Promise.reject(new Error('refused')), 60_000, 'answer')).rejects.toThrow('refused');
  });

  it('rejects with a TimeoutError naming what did not finish when the promise never settles', async () => {
    const err = await withTimeout(new Promise(() => undefined), 1, 'closing the job queues').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toBe('closing the job queues timed out after 1 ms');
  });

  it('is the one helper that races a promise against a timer: no server file keeps its own', () => {
    const files = readdirSync(SERVER, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.startsWith(`dev${path.sep}`));
    const ownRaces = files.filter((f) => f !== path.join('lib', 'timeout.ts') && /Promise\.race\(/.test(readFileSync(path.join(SERVER, f), 'utf8')));
    expect(ownRaces).toEqual([]);
  });
});
