/**
 * Processes and load for the benchmarks: the API and the bare baselines each run as a process of their
 * own, as deployed, with their log lines going to a file (parsing them in this process would steal CPU
 * from the load generator on a 2-core machine), and autocannon plays the clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, closeSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { ROOT_DIR } from '../support/test-env.js';

export interface BenchProcess {
  name: string;
  baseUrl: string;
  logFile: string;
  /** CPU time (user + system, ms) this process has used so far, from /proc (Linux). */
  cpuMs(): number;
  /** The log file's lines that are JSON, parsed (read once, after the load). */
  logLines(): Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** `node --import tsx <script>` listening on PORT; resolves once GET `readyPath` answers 2xx. */
export async function startProcess(
  name: string,
  script: string,
  env: Record<string, string | undefined>,
  opts: { args?: string[]; nodeArgs?: string[]; readyPath?: string } = {},
): Promise<BenchProcess> {
  const port = await freePort();
  const logFile = path.join(tmpdir(), `bench-${name}-${process.pid}-${port}.log`);
  const fd = openSync(logFile, 'w');
  const clean: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
  for (const [k, v] of Object.entries({ ...env, PORT: String(port) })) if (v !== undefined) clean[k] = v;
  const child: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', script, ...(opts.args ?? [])], {
    cwd: ROOT_DIR,
    env: clean,
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }, 15_000);
      await exited;
      clearTimeout(timer);
    }
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    try {
      const res = await fetch(`${baseUrl}${opts.readyPath ?? '/health/live'}`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not answer within 60 s: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    name,
    baseUrl,
    logFile,
    cpuMs: () => processCpuMs(child.pid!),
    logLines: () =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    stop,
  };
}

/** utime + stime of `pid` in ms (fields 14 and 15 of /proc/<pid>/stat, in clock ticks of 10 ms). */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export interface LoadResult {
  label: string;
  'req/s': number;
  'p50 ms': number;
  'p99 ms': number;
  requests: number;
  /** CPU the server process spent per answered request (ms), when the load was given its process. */
  'cpu ms/req'?: number;
  errors: number;
}

/** autocannon against one URL: mean requests per second, p50/p99 latency, and every non-2xx or socket error. */
export async function load(
  label: string,
  opts: { url: string; connections?: number; duration?: number; method?: 'GET' | 'POST'; headers?: Record<string, string>; requests?: autocannon.Request[]; server?: BenchProcess },
): Promise<LoadResult> {
  const cpuBefore = opts.server?.cpuMs();
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections ?? 100,
    duration: opts.duration ?? 10,
    method: opts.method ?? 'GET',
    headers: opts.headers,
    requests: opts.requests,
  });
  return {
    label,
    'req/s': Math.round(result.requests.average),
    'p50 ms': result.latency.p50,
    'p99 ms': result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
    ...(opts.server && cpuBefore !== undefined
      ? { 'cpu ms/req': Number(((opts.server.cpuMs() - cpuBefore) / Math.max(1, result.requests.total)).toFixed(3)) }
      : {}),
  };
}

export const ratio = (app: LoadResult, base: LoadResult) => (app['req/s'] / base['req/s']).toFixed(2);
/** The app's CPU per request over the baseline's: how much more work one answer costs, whatever the machine's load. */
export const cpuRatio = (app: LoadResult, base: LoadResult) => ((app['cpu ms/req'] ?? NaN) / (base['cpu ms/req'] ?? NaN)).toFixed(2);
