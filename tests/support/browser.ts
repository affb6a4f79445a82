import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';
import { extract } from 'tar-fs';
import { ROOT_DIR } from './test-env.js';

/**
 * The browser of the browser tests: the Chromium inside the `@sparticuz/chromium` npm package, so a
 * fresh Linux machine needs `npm ci` and nothing else (no browser download, no apt package).
 * CHROMIUM_PATH points at another Chromium instead (e.g. /usr/bin/chromium); nothing else does, so a
 * system browser is never picked up silently.
 *
 * The package ships brotli files: chromium.br (the headless shell), swiftshader.tar.br (software GL),
 * fonts.tar.br (Open Sans and a fonts.conf) and al2023.tar.br (the NSS libraries the binary links
 * against: libnss3, libnssutil3, libnspr4, libplc4, libplds4, libsoftokn3, libfreebl3, libexpat). Its
 * own `executablePath()` does not fit a shared test machine: it inflates into os.tmpdir() itself
 * (/tmp/chromium, /tmp/fonts), trusts any /tmp/chromium it finds (another version, or one half-written
 * by a killed run), inflates the NSS libraries only on AWS Lambda (a Debian 12 without the chromium apt
 * package has none of them: `ldd` shows libnss3.so, libnssutil3.so, libnspr4.so, libplc4.so,
 * libplds4.so "not found"), and its fonts.conf names /tmp/fonts. So we inflate all four into a
 * directory of this version's own, built under a temporary name and renamed into place once complete,
 * and launch with LD_LIBRARY_PATH on its lib/ and a fonts.conf of our own. Left in tmpdir: ~200 MB,
 * inflated once per version (about 2 s), reused by later runs.
 */

const PACKAGE_DIR = path.join(ROOT_DIR, 'node_modules', '@sparticuz', 'chromium');

/** Flags that keep Chromium from reaching out to a network that is not there (each attempt is refused and retried). */
const OFFLINE_FLAGS = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const PARTIAL = /^sparticuz-chromium-.+\.partial-(\d+)$/;
/** A partial directory this young may be one another pid namespace is still writing (a container sharing tmpdir). */
const PARTIAL_GRACE_MS = 10 * 60_000;

/** Whether a process with this pid exists (EPERM: it does, as another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the half-inflated `<dir>.partial-<pid>` directories (any version, ~200 MB each) that a run
 * killed while inflating left behind: their pid is gone and nobody touched them for a while. A live
 * pid's directory (a run inflating now, or a pid reused since: left for a later sweep) and another
 * user's (not ours to remove) stay. Returns the names removed.
 */
export async function sweepStalePartials(parent = tmpdir(), now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const pid = Number(PARTIAL.exec(name)?.[1] ?? NaN);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    const full = path.join(parent, name);
    const info = await stat(full).catch(() => null);
    if (!info?.isDirectory() || now - info.mtimeMs < PARTIAL_GRACE_MS) continue;
    if (await rm(full, { recursive: true, force: true }).then(() => true, () => false)) removed.push(name);
  }
  return removed;
}

/** The bundled Chromium, inflated on first use: its binary and the environment it must run with. */
async function bundledChromium(): Promise<{ executablePath: string; env: Record<string, string> }> {
  const { version } = JSON.parse(readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string };
  const dir = path.join(tmpdir(), `sparticuz-chromium-${version}`);
  await sweepStalePartials();
  if (!existsSync(path.join(dir, 'chromium'))) {
    const partial = `${dir}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    const bin = (file: string) => createReadStream(path.join(PACKAGE_DIR, 'bin', file)).pipe(createBrotliDecompress());
    await Promise.all([
      pipeline(bin('chromium.br'), createWriteStream(path.join(partial, 'chromium'), { mode: 0o755 })),
      pipeline(bin('swiftshader.tar.br'), extract(partial)),
      pipeline(bin('fonts.tar.br'), extract(partial)), // fonts/Open_Sans/*.ttf (and a fonts.conf naming /tmp/fonts, replaced below)
      pipeline(bin('al2023.tar.br'), extract(partial)), // lib/*.so
    ]);
    await writeFile(
      path.join(partial, 'fonts.conf'),
      `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n  <dir>${dir}/fonts</dir>\n  <cachedir>${dir}/fonts-cache</cachedir>\n</fontconfig>\n`,
    );
    // Another run may have finished first: then its copy stands and ours goes.
    await rename(partial, dir).catch(() => rm(partial, { recursive: true, force: true }));
  }
  return { executablePath: path.join(dir, 'chromium'), env: { LD_LIBRARY_PATH: path.join(dir, 'lib'), FONTCONFIG_FILE: path.join(dir, 'fonts.conf') } };
}

export interface LaunchedBrowser {
  browser: Browser;
  /** Which Chromium: the bundled package's version, or CHROMIUM_PATH. */
  source: string;
}

/** One headless Chromium, offline; playwright gives it a fresh, empty --user-data-dir of its own. */
export async function launchChromium(): Promise<LaunchedBrowser> {
  const explicit = process.env.CHROMIUM_PATH;
  const { executablePath, env } = explicit ? { executablePath: explicit, env: {} } : await bundledChromium();
  const browser = await chromium.launch({ executablePath, headless: true, args: OFFLINE_FLAGS, env: { ...process.env, ...env } });
  return { browser, source: explicit ? `CHROMIUM_PATH=${explicit}` : `@sparticuz/chromium (${executablePath})` };
}
