/**
 * Makes sure MySQL/MariaDB and Redis are reachable, without ever touching the system's own database
 * files. Order of preference:
 *   1. DATABASE_URL / REDIS_URL (environment, then .env, read by Node's process.loadEnvFile), or the
 *      team defaults, when they answer;
 *   2. private mariadbd/mysqld and redis-server instances with their data under .data/, on their own ports;
 *   3. `docker compose up -d mysql redis` when a Docker engine answers and MYSQL_ROOT_PASSWORD is set;
 *   4. otherwise: stop, saying exactly what to install.
 * The URLs in use are written to .data/services.env for the test harness.
 * Usage: tsx server/scripts/services.ts [--quiet]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { bootstrapEnv } from '../env.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DATA = path.join(ROOT, '.data');
const PRIVATE_MYSQL_PORT = 3307;
const PRIVATE_REDIS_PORT = 6380;
export const DEFAULT_DATABASE_URL = 'mysql://root@127.0.0.1:3306/flight_booking';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

const quiet = process.argv.includes('--quiet');
const say = (msg: string) => {
  if (!quiet) process.stdout.write(`[services] ${msg}\n`);
};

async function mysqlAnswers(url: string): Promise<boolean> {
  const server = new URL(url);
  server.pathname = '/';
  try {
    const conn = await mysql.createConnection({ uri: server.toString(), connectTimeout: 2000 });
    await conn.query('SELECT 1');
    await conn.end();
    return true;
  } catch {
    return false;
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

function which(...names: string[]): string | undefined {
  for (const n of names) {
    for (const dir of bootstrapEnv().PATH.split(':').concat(['/usr/sbin', '/usr/local/sbin', '/sbin'])) {
      const p = path.join(dir, n);
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

async function waitFor(check: () => Promise<boolean>, seconds: number): Promise<boolean> {
  for (let i = 0; i < seconds * 4; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer().once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function startPrivateMysql(): Promise<string | undefined> {
  const daemon = which('mariadbd', 'mysqld');
  const installDb = which('mariadb-install-db', 'mysql_install_db');
  if (!daemon || !installDb) return undefined;
  const url = `mysql://root@127.0.0.1:${PRIVATE_MYSQL_PORT}/flight_booking`;
  if (await mysqlAnswers(url)) return url;
  if (!(await portFree(PRIVATE_MYSQL_PORT))) return undefined;
  const dir = path.join(DATA, 'mysql');
  if (!existsSync(path.join(dir, 'mysql'))) {
    mkdirSync(dir, { recursive: true });
    say(`initialising a private database under ${dir}`);
    const res = spawnSync(installDb, ['--no-defaults', `--datadir=${dir}`, '--auth-root-authentication-method=normal', '--skip-test-db', `--user=${userInfo().username}`], { stdio: quiet ? 'ignore' : 'inherit' });
    if (res.status !== 0) return undefined;
  }
  say(`starting private ${path.basename(daemon)} on port ${PRIVATE_MYSQL_PORT}`);
  const child = spawn(
    daemon,
    ['--no-defaults', `--datadir=${dir}`, `--port=${PRIVATE_MYSQL_PORT}`, '--bind-address=127.0.0.1', `--socket=${path.join(DATA, 'mysql.sock')}`, `--pid-file=${path.join(DATA, 'mysql.pid')}`, `--user=${userInfo().username}`, `--log-error=${path.join(DATA, 'mysql.err')}`],
    { detached: true, stdio: 'ignore' },
  );
  child.unref();
  return (await waitFor(() => mysqlAnswers(url), 30)) ? url : undefined;
}

async function startPrivateRedis(): Promise<string | undefined> {
  const bin = which('redis-server');
  if (!bin) return undefined;
  const url = `redis://127.0.0.1:${PRIVATE_REDIS_PORT}`;
  if (await redisAnswers(url)) return url;
  mkdirSync(path.join(DATA, 'redis'), { recursive: true });
  say(`starting private redis-server on port ${PRIVATE_REDIS_PORT}`);
  spawnSync(bin, ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', String(PRIVATE_REDIS_PORT), '--dir', path.join(DATA, 'redis'), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  return (await waitFor(() => redisAnswers(url), 10)) ? url : undefined;
}

function dockerCompose(): boolean {
  if (!which('docker')) return false;
  if (spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0) return false;
  say('starting mysql and redis with docker compose');
  // Compose reads MYSQL_ROOT_PASSWORD from the environment or, itself, from .env beside the file.
  return spawnSync('docker', ['compose', 'up', '-d', '--wait', 'mysql', 'redis'], { cwd: ROOT, stdio: quiet ? 'ignore' : 'inherit' }).status === 0;
}

/** `fromDotenv`: what .env says, for a caller that has not loaded it (start.ts); the environment wins. */
export async function ensureServices(fromDotenv: { DATABASE_URL?: string; REDIS_URL?: string; MYSQL_ROOT_PASSWORD?: string } = {}): Promise<{ databaseUrl: string; redisUrl: string }> {
  const given = bootstrapEnv();
  let databaseUrl = given.DATABASE_URL ?? (fromDotenv.DATABASE_URL || DEFAULT_DATABASE_URL);
  let redisUrl = given.REDIS_URL ?? (fromDotenv.REDIS_URL || DEFAULT_REDIS_URL);
  let dbOk = await mysqlAnswers(databaseUrl);
  let redisOk = await redisAnswers(redisUrl);
  if (!dbOk) {
    const url = await startPrivateMysql();
    if (url) [databaseUrl, dbOk] = [url, true];
  }
  if (!redisOk) {
    const url = await startPrivateRedis();
    if (url) [redisUrl, redisOk] = [url, true];
  }
  // docker-compose.yml requires MYSQL_ROOT_PASSWORD (no default secrets), so only with one set.
  const rootPassword = given.MYSQL_ROOT_PASSWORD ?? (fromDotenv.MYSQL_ROOT_PASSWORD || undefined);
  if ((!dbOk || !redisOk) && rootPassword && dockerCompose()) {
    const composeUrl = `mysql://root:${encodeURIComponent(rootPassword)}@127.0.0.1:3306/flight_booking`;
    if (!dbOk) [databaseUrl, dbOk] = [composeUrl, await waitFor(() => mysqlAnswers(composeUrl), 60)];
    if (!redisOk) [redisUrl, redisOk] = [DEFAULT_REDIS_URL, await waitFor(() => redisAnswers(DEFAULT_REDIS_URL), 30)];
  }
  if (!dbOk || !redisOk) {
    const missing = [!dbOk && 'MySQL 8 or MariaDB 10.6+', !redisOk && 'Redis 6.2+'].filter(Boolean).join(' and ');
    throw new Error(
      `Could not reach or start ${missing}.\n` +
        `Install them (Debian/Ubuntu: sudo apt-get install mariadb-server redis-server; macOS: brew install mariadb redis),\n` +
        `or install Docker, set MYSQL_ROOT_PASSWORD in .env and run: docker compose up -d mysql redis,\n` +
        `or point DATABASE_URL / REDIS_URL in .env at servers you already run.`,
    );
  }
  mkdirSync(DATA, { recursive: true });
  writeFileSync(path.join(DATA, 'services.env'), `DATABASE_URL=${databaseUrl}\nREDIS_URL=${redisUrl}\n`);
  say(`database: ${databaseUrl.replace(/:[^:@/]+@/, ':***@')}`);
  say(`redis:    ${redisUrl}`);
  return { databaseUrl, redisUrl };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Run on its own (npm test, CI): .env, when there is one, fills what the environment leaves unset.
  if (existsSync(path.join(ROOT, '.env'))) process.loadEnvFile(path.join(ROOT, '.env'));
  ensureServices().catch((err: Error) => {
    process.stderr.write(`[services] ${err.message}\n`);
    process.exit(1);
  });
}
