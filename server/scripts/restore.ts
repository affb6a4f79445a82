/**
 * npm run db:restore -- <backup dir or its manifest.json> --into <database> [--force]
 * 1. Refuses a damaged or tampered dump (SHA-256 and size against the manifest) before writing anything.
 * 2. Refuses an existing target database unless --force (which drops it first).
 * 3. Loads the dump, then verifies every table's row count and content digest, the triggers, the
 *    routines and the migration level against the manifest, printing one line per check.
 * Any failure, interruption (Ctrl-C, SIGTERM) or difference drops the target again and exits non-zero:
 * a database left behind by this script has been verified.
 * Connects as MIGRATION_DATABASE_URL (else DATABASE_URL): the server comes from it, the database from --into.
 */
import './load-dotenv.js';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import type mysql from 'mysql2';
import {
  assertDatabaseName, codeMigrationCount, connect, describeMigrations, Manifest, migrationLevel,
  requireTool, rows, schemaObjects, tableDigests, tap, toolOptions,
} from '../db/backup.js';
import { migrationDatabaseUrl } from '../env.js';

const say = (line: string) => process.stdout.write(`${line}\n`);
const USAGE = 'usage: npm run db:restore -- <backup dir or manifest.json> --into <database> [--force]';

class Refused extends Error {}

function readManifest(backup: string): { manifest: Manifest; dumpPath: string } {
  const manifestPath = existsSync(backup) && statSync(backup).isDirectory() ? path.join(backup, 'manifest.json') : backup;
  if (!existsSync(manifestPath)) throw new Refused(`no manifest at ${manifestPath} (a backup directory without one is incomplete)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    throw new Refused(`${manifestPath} is not valid JSON: ${(err as Error).message}`);
  }
  const result = Manifest.safeParse(parsed);
  if (!result.success) throw new Refused(`${manifestPath} is not a backup manifest this version understands: ${result.error.issues[0]?.message}`);
  return { manifest: result.data, dumpPath: path.join(path.dirname(manifestPath), result.data.dump.file) };
}

async function fileDigest(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * Triggers and routines carry DEFINER=<the user who ran the migrations>; on another server that user
 * may not exist, and creating an object for another definer needs SUPER. The restoring user becomes
 * the definer instead. Only the dump's own definition lines are touched, never data (INSERT lines).
 */
const DEFINER = /^(\/\*!50003 CREATE\*\/ \/\*!50017 |\/\*!50013 |CREATE )DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*`/gm;
function definersToCurrentUser(): Transform {
  let rest = '';
  const rewrite = (text: string) => Buffer.from(text.replace(DEFINER, '$1DEFINER=CURRENT_USER'), 'latin1');
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const text = rest + chunk.toString('latin1'); // latin1: a lossless byte <-> char mapping
      const cut = text.lastIndexOf('\n') + 1;
      rest = text.slice(cut);
      done(null, rewrite(text.slice(0, cut)));
    },
    flush(done) {
      done(null, rewrite(rest));
    },
  });
}

/** Streams the dump into the client, hashing the file again as it is read (it must not change under us). */
async function load(url: string, target: string, dumpPath: string, expectedSha256: string, signal: AbortSignal): Promise<void> {
  const client = requireTool(['mariadb', 'mysql']);
  const options = await toolOptions(url);
  try {
    const child = spawn(client.bin, [...options.args, '--default-character-set=utf8mb4', target], { stdio: ['pipe', 'ignore', 'pipe'], signal });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    const hash = createHash('sha256');
    const [, code] = await Promise.all([
      pipeline(createReadStream(dumpPath), tap((c) => hash.update(c)), createGunzip(), definersToCurrentUser(), child.stdin, { signal }).catch((err: Error) => {
        throw new Error(`reading the dump failed: ${err.message}${stderr ? `; ${client.bin}: ${stderr.trim()}` : ''}`);
      }),
      exited,
    ]);
    if (code !== 0) throw new Error(`${client.bin} failed (exit ${code}): ${stderr.trim()}`);
    if (hash.digest('hex') !== expectedSha256) throw new Error('the dump file changed while it was being restored');
  } finally {
    await options.cleanup();
  }
}

/** Compares the restored database with the manifest, one line per check. Returns the number of differences. */
async function verify(conn: mysql.Connection, target: string, manifest: Manifest): Promise<number> {
  let differences = 0;
  const check = (ok: boolean, what: string, detail: string) => {
    if (!ok) differences++;
    say(`  ${ok ? 'ok  ' : 'DIFF'} ${what.padEnd(24)} ${detail}`);
  };
  const restored = await tableDigests(conn, target);
  for (const table of [...new Set([...Object.keys(manifest.tables), ...Object.keys(restored)])].sort()) {
    const want = manifest.tables[table];
    const got = restored[table];
    if (!want || !got) {
      check(false, table, want ? 'missing after restore' : 'not in the backup');
      continue;
    }
    const ok = want.rows === got.rows && want.sha256 === got.sha256;
    const detail = want.rows === got.rows ? `${got.rows} rows` : `${got.rows} rows, backup had ${want.rows}`;
    check(ok, table, `${detail}, sha256 ${got.sha256.slice(0, 16)}${want.sha256 === got.sha256 ? '' : ` != ${want.sha256.slice(0, 16)}`}`);
  }
  const objects = await schemaObjects(conn, target);
  const missing = (want: string[], got: string[]) => want.filter((x) => !got.includes(x)).concat(got.filter((x) => !want.includes(x)).map((x) => `unexpected ${x}`));
  const triggerDiff = missing(manifest.triggers, objects.triggers);
  check(triggerDiff.length === 0, 'triggers', triggerDiff.length ? triggerDiff.join('; ') : `${objects.triggers.length} present`);
  const routineDiff = missing(manifest.routines, objects.routines);
  check(routineDiff.length === 0, 'routines', routineDiff.length ? routineDiff.join('; ') : `${objects.routines.length} present`);
  const level = await migrationLevel(conn, target);
  check(level.applied === manifest.migrations.applied && level.latest === manifest.migrations.latest, 'migrations', describeMigrations(level));
  return differences;
}

async function databaseExists(conn: mysql.Connection, name: string): Promise<boolean> {
  return (await rows(conn, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [name])).length > 0;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { into: { type: 'string' }, force: { type: 'boolean', default: false } } });
  if (positionals.length !== 1 || !values.into) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const target = assertDatabaseName(values.into, '--into');
  const { manifest, dumpPath } = readManifest(positionals[0]!);
  if (!existsSync(dumpPath)) throw new Refused(`${dumpPath} is missing`);
  const file = await fileDigest(dumpPath);
  if (file.sha256 !== manifest.dump.sha256 || file.bytes !== manifest.dump.bytes) {
    throw new Refused(`${dumpPath} does not match its manifest (sha256 ${file.sha256}, ${file.bytes} bytes; manifest says ${manifest.dump.sha256}, ${manifest.dump.bytes} bytes): the file is damaged or was altered. Nothing was written.`);
  }
  say(`backup of ${manifest.database} taken ${manifest.createdAt}: dump checksum ok`);
  const url = migrationDatabaseUrl();
  const conn = await connect(url);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  let created = false;
  try {
    if (await databaseExists(conn, target)) {
      if (!values.force) throw new Refused(`database ${target} already exists; pass --force to replace it (it is dropped first)`);
      say(`--force: dropping the existing ${target}`);
      await conn.promise().query(`DROP DATABASE \`${target}\``);
    }
    await conn.promise().query(`CREATE DATABASE \`${target}\` CHARACTER SET ${manifest.charset} COLLATE ${manifest.collation}`);
    created = true;
    await load(url, target, dumpPath, manifest.dump.sha256, abort.signal);
    if (abort.signal.aborted) throw new Error('interrupted');
    say(`restored into ${target}; verifying against the manifest:`);
    const differences = await verify(conn, target, manifest);
    if (abort.signal.aborted) throw new Error('interrupted');
    if (differences > 0) throw new Error(`${differences} difference(s) between ${target} and the backup`);
    created = false; // verified: keep it
    const behind = codeMigrationCount() - manifest.migrations.applied;
    say(`${target} matches the backup.`);
    if (behind > 0) say(`This code has ${behind} newer migration(s): run npm run db:migrate against ${target} before pointing the app at it.`);
    if (behind < 0) say(`The backup has ${-behind} migration(s) this code does not know: run it with the code that made it.`);
    return 0;
  } catch (err) {
    throw abort.signal.aborted ? new Error('interrupted') : err;
  } finally {
    if (created) {
      await conn.promise().query(`DROP DATABASE IF EXISTS \`${target}\``);
      process.stderr.write(`db:restore: dropped ${target}, which was not verified\n`);
    }
    conn.end();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    process.stderr.write(`db:restore ${err instanceof Refused ? 'refused' : 'failed'}: ${err.message}\n`);
    process.exitCode = 1;
  },
);
