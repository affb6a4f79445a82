import { spawn, type ChildProcess } from 'node:child_process';
import { ROOT_DIR } from './test-env.js';

/**
 * `node --import tsx <script>`: one process, no tsx wrapper. The wrapper relays signals and SIGKILLs
 * its child if the child does not acknowledge within ~60 ms, which a loaded machine can miss, turning
 * a graceful SIGTERM into a kill.
 */
const NODE_TSX = [process.execPath, '--import', 'tsx'] as const;

/**
 * The environment of an API or worker process that shares this test process's secrets (setup-env put
 * them in process.env), so access tokens the test mints and webhooks it signs are valid there.
 */
export function sharedProcessEnv(opts: { databaseUrl: string; redisKeyPrefix: string; stripeApiBase: string }): Record<string, string | undefined> {
  const shared = ['JWT_SECRET', 'REFRESH_TOKEN_PEPPER', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'APP_BASE_URL', 'REDIS_URL'];
  return {
    ...Object.fromEntries(shared.map((k) => [k, process.env[k]])),
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATABASE_URL: opts.databaseUrl,
    REDIS_KEY_PREFIX: opts.redisKeyPrefix,
    STRIPE_API_BASE: opts.stripeApiBase,
    // Test files run workers side by side: no fixed port (a test that reads it passes its own).
    WORKER_METRICS_PORT: '0',
  };
}

/** Runs a script to completion (an entrypoint expected to exit on bad config, an operational script). */
export function runEntrypoint(
  script: string,
  env: Record<string, string | undefined>,
  opts: { args?: string[]; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = spawn(NODE_TSX[0], [...NODE_TSX.slice(1), script, ...(opts.args ?? [])], { cwd: ROOT_DIR, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not exit within ${timeoutMs} ms; stdout: ${stdout}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function cleanEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  // Only what the test passes, plus PATH/HOME so tsx and node run: no leakage of the test's own env.
  const base: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) base[k] = v;
  return base;
}

export interface SpawnedProcess {
  child: ChildProcess;
  /** Parsed JSON log lines, as they arrive. */
  logs: Record<string, unknown>[];
  /** Lines that were not JSON (should stay empty in production mode). */
  rawLines: string[];
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a long-running entrypoint (the API or the worker) as its own process. */
export function spawnEntrypoint(script: string, env: Record<string, string | undefined>, nodeArgs: string[] = []): SpawnedProcess {
  // Its own process group, so stop() can take down anything it started: a test never leaves a server behind.
  const child = spawn(NODE_TSX[0], [...nodeArgs, ...NODE_TSX.slice(1), script], { cwd: ROOT_DIR, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const logs: Record<string, unknown>[] = [];
  const rawLines: string[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString();
    let i: number;
    while ((i = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        logs.push(parsed);
        for (const w of [...waiters]) {
          if (w.pred(parsed)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(parsed);
          }
        }
      } catch {
        if (line.trim()) rawLines.push(line);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    rawLines,
    waitForLog(pred, timeoutMs = 30_000) {
      const found = logs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`log line not seen within ${timeoutMs} ms; raw: ${rawLines.slice(-10).join('\n')}`)), timeoutMs);
        waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${script} exited with ${code} before the log line; raw: ${rawLines.slice(-10).join('\n')}`));
        });
      });
    },
    async stop(signal = 'SIGTERM') {
      const group = (sig: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, sig);
        } catch {
          // already gone
        }
      };
      if (child.exitCode === null && child.signalCode === null) group(signal);
      const timer = setTimeout(() => group('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      group('SIGKILL'); // anything of the group still around
      return code;
    },
  };
}

/** Starts the API entrypoint on a free port and waits until it listens. */
export async function spawnApi(env: Record<string, string | undefined>, nodeArgs: string[] = []): Promise<SpawnedProcess & { baseUrl: string }> {
  const proc = spawnEntrypoint('server/index.ts', { ...env, PORT: '0', NODE_ENV: env.NODE_ENV ?? 'production' }, nodeArgs);
  try {
    const line = await proc.waitForLog((l) => l.msg !== undefined && String(l.msg).startsWith('API listening'));
    return Object.assign(proc, { baseUrl: `http://127.0.0.1:${line.port as number}` });
  } catch (err) {
    // Never leave a half-started API behind: nobody else holds a handle to stop it.
    await proc.stop('SIGKILL');
    throw err;
  }
}
