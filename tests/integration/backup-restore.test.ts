import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { bookings } from '../../server/db/schema/index.js';
import { recordLedgerEntry } from '../../server/services/ledger.js';
import { createTestDatabase } from '../support/harness.js';
import { createFlight } from '../support/flights.js';
import { runEntrypoint } from '../support/spawn.js';
import { MYSQL_SERVER_URL, testEnv } from '../support/test-env.js';
import { createUser } from '../support/users.js';

// The real scripts as their own processes, with the real mariadb-dump/mysqldump and client.
let source: Awaited<ReturnType<typeof createTestDatabase>>;
let server: mysql.Connection;
let workDir: string;
let backupDir: string;
const targets: string[] = [];
const target = (label: string) => {
  const name = `${source.name}_${label}`;
  targets.push(name);
  return name;
};

const scriptEnv = () => ({ ...testEnv(), DATABASE_URL: source.url });
const backup = (args: string[], env: Record<string, string> = scriptEnv()) => runEntrypoint('server/scripts/backup.ts', env, { args, timeoutMs: 120_000 });
const restore = (args: string[]) => runEntrypoint('server/scripts/restore.ts', scriptEnv(), { args, timeoutMs: 120_000 });

async function exists(database: string): Promise<boolean> {
  const [rows] = await server.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [database]);
  return rows.length > 0;
}
async function tableRows(database: string, table: string): Promise<unknown[]> {
  const [rows] = await server.query(`SELECT * FROM \`${database}\`.\`${table}\` ORDER BY 1`);
  return rows as unknown[];
}
async function triggers(database: string): Promise<string[]> {
  const [rows] = await server.query<mysql.RowDataPacket[]>('SELECT TRIGGER_NAME AS t FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY 1', [database]);
  return rows.map((r) => r.t as string);
}

beforeAll(async () => {
  source = await createTestDatabase();
  server = await mysql.createConnection({ uri: `${MYSQL_SERVER_URL}/`, timezone: 'Z' });
  workDir = await mkdtemp(path.join(os.tmpdir(), 'fbt-backup-'));
  // Data of every awkward kind: non-ASCII text, JSON, BINARY, NULLs, a ledger entry under its triggers.
  const db = source.database.db;
  const user = await createUser(db);
  await db.execute(`UPDATE users SET name = 'زينب "Zee" O''Brien\\\\' WHERE id = ${user.id}`);
  const flightId = await createFlight(db);
  const [b] = await db.insert(bookings).values({ userId: user.id, flightId, passengerCount: 1, totalMinor: 45_000, currency: 'SAR', seatsHeld: 0 });
  await recordLedgerEntry(db, 'charge', { bookingId: b.insertId, userId: user.id, amountMinor: 45_000, currency: 'sar', paymentIntentId: 'pi_backup', eventId: 'evt_backup' });
  await db.execute(`INSERT INTO stripe_events (id, type, stripe_created_at, payload) VALUES ('evt_backup', 'payment_intent.succeeded', NOW(3), '{"name": "زينب", "quote": "a\\\\"b", "n": 1.50}')`);
  await db.execute(`INSERT INTO refresh_tokens (user_id, family_id, token_hash, idle_expires_at, absolute_expires_at) VALUES (${user.id}, UUID(), UNHEX(SHA2('t', 256)), NOW(3), NOW(3))`);
});

afterAll(async () => {
  for (const t of targets) await server.query(`DROP DATABASE IF EXISTS \`${t}\``);
  await server.end();
  await source.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('db:backup and db:restore', () => {
  it('a backup taken while the app writes restores into a fresh database that matches it, append-only triggers included', async () => {
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await createUser(source.database.db);
        await sleep(2);
      }
    })();
    const made = await backup(['--out', workDir]).finally(() => (writing = false));
    await writer;
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const [dirName] = await readdir(workDir);
    backupDir = path.join(workDir, dirName!);
    const manifest = JSON.parse(await readFile(path.join(backupDir, 'manifest.json'), 'utf8'));
    expect(manifest.migrations.applied).toBeGreaterThan(0);
    expect(manifest.triggers).toContain('trg_financial_ledger_no_update: BEFORE UPDATE ON financial_ledger');

    const into = target('restored');
    const restored = await restore([backupDir, '--into', into]);
    expect(restored.stderr).toBe('');
    expect(restored.stdout).toMatch(/ok {3}financial_ledger +1 rows/);
    expect(restored.stdout).toContain(`${into} matches the backup.`);
    expect(restored.code).toBe(0);

    // Checked here without the scripts' own digests: the rows themselves, and the triggers at work.
    expect(await tableRows(into, 'users')).toHaveLength(manifest.tables.users.rows);
    for (const table of ['financial_ledger', 'stripe_events', 'refresh_tokens', 'bookings', 'flights', '__drizzle_migrations']) {
      expect(await tableRows(into, table)).toEqual(await tableRows(source.name, table));
    }
    expect(await triggers(into)).toEqual(await triggers(source.name));
    await expect(server.query(`UPDATE \`${into}\`.financial_ledger SET amount_minor = 1`)).rejects.toThrow(/append-only/);
    await expect(server.query(`DELETE FROM \`${into}\`.financial_ledger`)).rejects.toThrow(/append-only/);
  });

  it('a dump with one byte changed is refused before anything is written', async () => {
    const damaged = path.join(workDir, 'damaged');
    await cp(backupDir, damaged, { recursive: true });
    const dump = await readFile(path.join(damaged, 'dump.sql.gz'));
    dump[Math.floor(dump.length / 2)]! ^= 0x01;
    await writeFile(path.join(damaged, 'dump.sql.gz'), dump);

    const into = target('damaged');
    const res = await restore([damaged, '--into', into]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/refused: .*dump\.sql\.gz does not match its manifest .* damaged or was altered\. Nothing was written\./);
    expect(await exists(into)).toBe(false);
  });

  it('a restore that differs from its manifest is dropped, never left looking valid', async () => {
    const altered = path.join(workDir, 'altered');
    await cp(backupDir, altered, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(altered, 'manifest.json'), 'utf8'));
    manifest.tables.financial_ledger.rows += 1; // as if the dump had lost a ledger entry
    await writeFile(path.join(altered, 'manifest.json'), JSON.stringify(manifest));

    const into = target('altered');
    const res = await restore([altered, '--into', into]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/DIFF financial_ledger +1 rows, backup had 2/);
    expect(res.stdout).toMatch(/ok {3}users/);
    expect(res.stderr).toContain(`dropped ${into}, which was not verified`);
    expect(await exists(into)).toBe(false);
  });

  it('an existing database is replaced only with --force', async () => {
    const into = target('existing');
    await server.query(`CREATE DATABASE \`${into}\``);
    await server.query(`CREATE TABLE \`${into}\`.keep_me (id int primary key)`);

    const refused = await restore([backupDir, '--into', into]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already exists; pass --force/);
    expect(await tableRows(into, 'keep_me')).toEqual([]);

    const forced = await restore([backupDir, '--into', into, '--force']);
    expect(forced.code).toBe(0);
    expect(await triggers(into)).toEqual(await triggers(source.name));
    await expect(tableRows(into, 'keep_me')).rejects.toThrow(/doesn't exist/);
  });

  it('without mariadb-dump or mysqldump the backup stops and says what to install', async () => {
    const res = await backup(['--out', workDir], { ...scriptEnv(), PATH: path.join(workDir, 'no-tools') });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/mariadb-dump or mysqldump not found on PATH\. Install the MariaDB or MySQL client tools/);
  });
});
