/**
 * npm run db:backup [-- --out <dir>]
 * Writes <dir>/<database>-<UTC time>/ with dump.sql.gz (mariadb-dump/mysqldump, one consistent
 * snapshot, routines and triggers included) and manifest.json (per-table row count and content digest,
 * migration level, triggers, routines, and the dump file's own SHA-256). Default dir: .data/backups.
 * Connects as MIGRATION_DATABASE_URL (else DATABASE_URL): dumping triggers needs the TRIGGER privilege.
 */
import './load-dotenv.js';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import type mysql from 'mysql2';
import {
  baseTables, connect, databaseOf, describeMigrations, formatBytes, migrationLevel, requireTool,
  rows, schemaObjects, tableDigests, tap, toolOptions, type Manifest,
} from '../db/backup.js';
import { migrationDatabaseUrl } from '../env.js';

const DUMP_FILE = 'dump.sql.gz';
const say = (line: string) => process.stdout.write(`${line}\n`);

/**
 * Runs the dump tool into a gzip file, hashing what is written. `snapshotTaken` resolves once the tool
 * has opened its transaction: it writes table definitions only after START TRANSACTION WITH CONSISTENT
 * SNAPSHOT (or exits, for a database without tables).
 */
function runDump(tool: { bin: string; version: string }, optionArgs: string[], database: string, file: string) {
  const mysqlFlavour = !/mariadb/i.test(tool.version);
  const args = [
    ...optionArgs,
    '--single-transaction', '--routines', '--triggers', '--hex-blob', '--no-tablespaces', '--default-character-set=utf8mb4',
    // MySQL's mysqldump: no GTID_PURGED line (a restore elsewhere would fail on it), no column statistics.
    ...(mysqlFlavour ? ['--set-gtid-purged=OFF', '--column-statistics=0'] : []),
    database,
  ];
  const child = spawn(tool.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let markSnapshot!: () => void;
  const snapshotTaken = new Promise<void>((resolve) => (markSnapshot = resolve));
  let seen = '';
  let started = false;
  const watch = tap((chunk) => {
    if (started) return;
    seen = (seen + chunk.toString('latin1')).slice(-4096);
    started = /\n(DROP TABLE IF EXISTS|CREATE TABLE) /.test(seen);
    if (started) markSnapshot();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      markSnapshot();
      resolve(code);
    });
  });
  const hash = createHash('sha256');
  let bytes = 0;
  const count = tap((chunk) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  const done = (async () => {
    const [, code] = await Promise.all([pipeline(child.stdout, watch, createGzip({ level: 6 }), count, createWriteStream(file, { mode: 0o600 })), exited]);
    if (code !== 0) throw new Error(`${tool.bin} failed (exit ${code}): ${stderr.trim()}`);
    return { bytes, sha256: hash.digest('hex') };
  })();
  done.catch(() => markSnapshot());
  return { snapshotTaken, done, abort: () => child.kill() };
}

/**
 * Holds READ locks on every table (writers wait, readers do not) while this session and the dump tool
 * each open a consistent snapshot, so the manifest's digests describe exactly the data in the dump even
 * while the app keeps writing. LOCK TABLES needs only database-level privileges, unlike FLUSH TABLES
 * WITH READ LOCK (RELOAD); writers wait for the dump tool's start, typically well under a second.
 */
async function snapshotWithDump(url: string, database: string, start: () => ReturnType<typeof runDump>) {
  const snapshot = await connect(url, database);
  const locker = await connect(url, database);
  try {
    const tables = await baseTables(locker, database);
    await locker.promise().query('SET SESSION lock_wait_timeout = 30');
    if (tables.length > 0) await locker.promise().query(`LOCK TABLES ${tables.map((t) => `\`${t}\` READ`).join(', ')}`);
    let dump: ReturnType<typeof runDump> | undefined;
    try {
      try {
        await snapshot.promise().query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
        await snapshot.promise().query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
        dump = start();
        await dump.snapshotTaken;
      } finally {
        await locker.promise().query('UNLOCK TABLES');
      }
      const [inSnapshot, file] = await Promise.all([describe(snapshot, database), dump.done]);
      await snapshot.promise().query('COMMIT');
      return { ...inSnapshot, file };
    } catch (err) {
      dump?.abort();
      throw err;
    }
  } finally {
    snapshot.end();
    locker.end();
  }
}

async function describe(conn: mysql.Connection, database: string) {
  const [schema] = await rows<{ charset: string; collation: string }>(
    conn,
    'SELECT DEFAULT_CHARACTER_SET_NAME AS charset, DEFAULT_COLLATION_NAME AS collation FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [database],
  );
  const [server] = await rows<{ v: string }>(conn, 'SELECT VERSION() AS v');
  return {
    charset: schema?.charset ?? 'utf8mb4',
    collation: schema?.collation ?? 'utf8mb4_unicode_ci',
    server: server?.v ?? 'unknown',
    migrations: await migrationLevel(conn, database),
    tables: await tableDigests(conn, database),
    ...(await schemaObjects(conn, database)),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: path.join('.data', 'backups') } } });
  const url = migrationDatabaseUrl();
  const database = databaseOf(url);
  const tool = requireTool(['mariadb-dump', 'mysqldump']);
  const createdAt = new Date();
  const finalDir = path.resolve(values.out, `${database}-${createdAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`);
  // Written under a .partial name and renamed only when complete: a directory without it is a whole backup.
  const workDir = `${finalDir}.partial`;
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const options = await toolOptions(url);
  try {
    const taken = await snapshotWithDump(url, database, () => runDump(tool, options.args, database, path.join(workDir, DUMP_FILE)));
    const manifest: Manifest = {
      format: 'flight-booking-backup/1',
      digest: 'sha256-ordered-rows/1',
      createdAt: createdAt.toISOString(),
      database,
      charset: taken.charset,
      collation: taken.collation,
      server: taken.server,
      dumpTool: tool.version,
      dump: { file: DUMP_FILE, ...taken.file },
      migrations: taken.migrations,
      tables: taken.tables,
      triggers: taken.triggers,
      routines: taken.routines,
    };
    await writeFile(path.join(workDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    await rename(workDir, finalDir);
    const totalRows = Object.values(manifest.tables).reduce((n, t) => n + t.rows, 0);
    say(`backup of ${database}: ${finalDir}`);
    say(`  ${Object.keys(manifest.tables).length} tables, ${totalRows} rows, ${manifest.triggers.length} triggers, ${manifest.routines.length} routines`);
    say(`  migrations: ${describeMigrations(manifest.migrations)}`);
    say(`  ${DUMP_FILE}: ${formatBytes(manifest.dump.bytes)}, sha256 ${manifest.dump.sha256}`);
  } catch (err) {
    await rm(workDir, { recursive: true, force: true });
    throw err;
  } finally {
    await options.cleanup();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`db:backup failed: ${err.message}\n`);
  process.exitCode = 1;
});
