import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sweepStalePartials } from '../support/browser.js';

/** A pid that existed a moment ago and has exited. */
const deadPid = () => spawnSync('true').pid!;

let parent: string;
beforeEach(async () => {
  parent = await mkdtemp(path.join(tmpdir(), 'browser-partials-'));
});
afterEach(async () => {
  await rm(parent, { recursive: true, force: true });
});

/** A half-inflated Chromium directory as a run leaves it, last touched `ageMs` ago. */
async function partial(name: string, ageMs: number) {
  const dir = path.join(parent, name);
  await mkdir(path.join(dir, 'lib'), { recursive: true });
  await writeFile(path.join(dir, 'chromium'), 'half written');
  const at = new Date(Date.now() - ageMs);
  await utimes(dir, at, at);
  return dir;
}

describe('the bundled Chromium: half-inflated directories left by killed runs', () => {
  it('are removed when their pid is gone, of any version; a live run’s, a young one and the finished copy stay', async () => {
    const hour = 60 * 60_000;
    const dead = deadPid();
    const stale = await partial(`sparticuz-chromium-143.0.0.partial-${dead}`, hour);
    const staleOlderVersion = await partial(`sparticuz-chromium-131.0.1.partial-${deadPid()}`, hour);
    const live = await partial(`sparticuz-chromium-143.0.0.partial-${process.ppid}`, hour);
    const young = await partial(`sparticuz-chromium-143.0.0.partial-${deadPid()}`, 1000);
    const finished = await partial('sparticuz-chromium-143.0.0', hour);
    const unrelated = await partial(`something-else.partial-${dead}`, hour);

    const removed = await sweepStalePartials(parent);

    expect(removed.sort()).toEqual([path.basename(staleOlderVersion), path.basename(stale)].sort());
    for (const gone of [stale, staleOlderVersion]) expect(existsSync(gone)).toBe(false);
    for (const kept of [live, young, finished, unrelated]) expect(existsSync(kept)).toBe(true);
    expect(await readdir(parent)).toHaveLength(4);
  });
});
