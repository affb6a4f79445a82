/**
 * Shared by `npm run db:backup` and `npm run db:restore` (server/scripts/backup.ts, restore.ts): the
 * manifest, the per-table content digests (computed the same way at backup and after restore), and
 * running the MariaDB/MySQL command-line tools without putting the password on their command line.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import mysql from 'mysql2';
import type { RowDataPacket } from 'mysql2';
import { z } from 'zod';
import { MIGRATIONS_FOLDER } from './migrate.js';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

export const Manifest = z.object({
  format: z.literal('flight-booking-backup/1'),
  /** How table digests are computed; see tableDigests(). */
  digest: z.literal('sha256-ordered-rows/1'),
  createdAt: z.string(),
  database: z.string(),
  /** Interpolated into CREATE DATABASE at restore, hence the strict pattern. */
  charset: z.string().regex(/^\w+$/),
  collation: z.string().regex(/^\w+$/),
  server: z.string(),
  dumpTool: z.string(),
  dump: z.object({ file: z.string().regex(/^[\w.-]+$/), bytes: z.number().int().min(0), sha256: sha256Hex }),
  migrations: z.object({ applied: z.number().int().min(0), latest: z.string().nullable() }),
  tables: z.record(z.string(), z.object({ rows: z.number().int().min(0), sha256: sha256Hex })),
  triggers: z.array(z.string()),
  routines: z.array(z.string()),
});
export type Manifest = z.infer<typeof Manifest>;
export type TableDigests = Manifest['tables'];

const NAME = /^[A-Za-z0-9_]+$/;
export function assertDatabaseName(name: string, what: string): string {
  if (!NAME.test(name)) throw new Error(`${what} must be a database name of letters, digits and _, got "${name}"`);
  return name;
}

export function databaseOf(url: string): string {
  return assertDatabaseName(decodeURIComponent(new URL(url).pathname.replace(/^\//, '')), 'the database URL');
}

/** One connection (callback API, so queries can stream), UTC, utf8mb4: the same session at backup and restore. */
export async function connect(url: string, database?: string): Promise<mysql.Connection> {
  const u = new URL(url);
  u.pathname = `/${database ?? ''}`;
  const conn = mysql.createConnection({ uri: u.toString(), charset: 'utf8mb4', connectTimeout: 10_000 });
  // TIMESTAMP columns are rendered in the session time zone: pin it so digests do not depend on the server's.
  await conn.promise().query("SET time_zone = '+00:00'");
  return conn;
}

export async function rows<T>(conn: mysql.Connection, sql: string, params: unknown[] = []): Promise<T[]> {
  const [result] = await conn.promise().query<RowDataPacket[]>(sql, params);
  return result as T[];
}

export async function baseTables(conn: mysql.Connection, database: string): Promise<string[]> {
  const found = await rows<{ name: string }>(conn, "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", [database]);
  return found.map((t) => t.name).sort();
}

const quoteId = (id: string) => `\`${id.replace(/`/g, '``')}\``;

/**
 * Row count and SHA-256 of every base table's content: the column names, then each row in primary-key
 * order, each value as the exact bytes the server sends in the text protocol (length-prefixed, NULL
 * distinct from ''). Identical data gives identical digests on any server of the same flavour, which
 * CHECKSUM TABLE does not promise (it depends on the row format) and which it cannot do inside a
 * consistent snapshot. Rows stream through, so a large table is never held in memory.
 */
export async function tableDigests(conn: mysql.Connection, database: string): Promise<TableDigests> {
  // information_schema is slow per query on a server with many databases: two queries for all tables.
  const allColumns = await rows<{ t: string; c: string }>(conn, 'SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION', [database]);
  const allKeys = await rows<{ t: string; c: string }>(conn, "SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX", [database]);
  const of = (list: { t: string; c: string }[], table: string) => list.filter((r) => r.t === table).map((r) => r.c);
  const digests: TableDigests = {};
  for (const table of await baseTables(conn, database)) {
    const columns = of(allColumns, table);
    const key = of(allKeys, table);
    const hash = createHash('sha256');
    for (const c of columns) hash.update(`${c}\0`);
    const orderBy = (key.length > 0 ? key : columns).map(quoteId).join(', ');
    const sql = `SELECT ${columns.map(quoteId).join(', ')} FROM ${quoteId(database)}.${quoteId(table)} ORDER BY ${orderBy}`;
    const stream = conn.query({ sql, rowsAsArray: true, typeCast: (field) => field.buffer() }).stream({ highWaterMark: 256 });
    const len = Buffer.alloc(4);
    let count = 0;
    for await (const row of stream as AsyncIterable<(Buffer | null)[]>) {
      count++;
      for (const value of row) {
        if (value === null) {
          hash.update(Buffer.of(0));
          continue;
        }
        len.writeUInt32BE(value.length);
        hash.update(Buffer.of(1)).update(len).update(value);
      }
    }
    digests[table] = { rows: count, sha256: hash.digest('hex') };
  }
  return digests;
}

/** Triggers and stored routines, as sorted one-line descriptions: what a restore must bring back. */
export async function schemaObjects(conn: mysql.Connection, database: string): Promise<{ triggers: string[]; routines: string[] }> {
  const triggers = await rows<{ d: string }>(conn, "SELECT CONCAT(TRIGGER_NAME, ': ', ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ON ', EVENT_OBJECT_TABLE) AS d FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", [database]);
  const routines = await rows<{ d: string }>(conn, "SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) AS d FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?", [database]);
  return { triggers: triggers.map((t) => t.d).sort(), routines: routines.map((r) => r.d).sort() };
}

/** The migrations journal of this code: tag by `when`, which drizzle stores as created_at. */
function journalTags(): Map<number, string> {
  const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as { entries: { when: number; tag: string }[] };
  return new Map(journal.entries.map((e) => [e.when, e.tag]));
}
export const codeMigrationCount = (): number => journalTags().size;

/** How many migrations the database has applied, and the tag of the latest (null when this code does not know it). */
export async function migrationLevel(conn: mysql.Connection, database: string): Promise<Manifest['migrations']> {
  const [present] = await rows<{ n: number }>(conn, "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = '__drizzle_migrations'", [database]);
  if (!present || Number(present.n) === 0) return { applied: 0, latest: null };
  const applied = await rows<{ at: string }>(conn, `SELECT CAST(created_at AS CHAR) AS at FROM ${quoteId(database)}.__drizzle_migrations ORDER BY created_at`);
  const last = applied.at(-1);
  return { applied: applied.length, latest: last ? (journalTags().get(Number(last.at)) ?? null) : null };
}

export function describeMigrations(level: Manifest['migrations']): string {
  return `${level.applied} applied, latest ${level.latest ?? 'unknown to this code'}`;
}

const INSTALL_HINT =
  'Install the MariaDB or MySQL client tools (Debian/Ubuntu: sudo apt-get install mariadb-client; macOS: brew install mariadb) ' +
  'or put them on PATH.';

/**
 * The first of `names` that runs, with its version line; a clear error naming the package when none does.
 * Resolved by the OS through PATH (spawning by name), so nothing here reads the environment.
 */
export function requireTool(names: string[]): { bin: string; version: string } {
  for (const bin of names) {
    const res = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (res.error && (res.error as NodeJS.ErrnoException).code === 'ENOENT') continue;
    if (res.status === 0) return { bin, version: res.stdout.trim() };
    throw new Error(`${bin} --version failed: ${res.stderr.trim() || res.error?.message || `exit ${res.status}`}`);
  }
  throw new Error(`${names.join(' or ')} not found on PATH. ${INSTALL_HINT}`);
}

/**
 * Connection options for the command-line tools in a private option file (mode 0600) instead of argv,
 * where any local user could read the password in `ps`. `--defaults-extra-file` must come first.
 */
export async function toolOptions(url: string): Promise<{ args: string[]; cleanup(): Promise<void> }> {
  const u = new URL(url);
  const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = ['[client]', `host=${quote(u.hostname)}`, `port=${u.port || '3306'}`, `user=${quote(decodeURIComponent(u.username))}`, 'protocol=tcp'];
  if (u.password) lines.push(`password=${quote(decodeURIComponent(u.password))}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fb-db-'));
  const file = path.join(dir, 'client.cnf');
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { args: [`--defaults-extra-file=${file}`], cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A pass-through stream that feeds every chunk to `onChunk` (hashing, counting, watching). */
export function tap(onChunk: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      onChunk(chunk);
      done(null, chunk);
    },
  });
}

export function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}
