import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { drizzle } from 'drizzle-orm/mysql2';
import { migrate } from 'drizzle-orm/mysql2/migrator';

export const MIGRATIONS_FOLDER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../drizzle');

/** Creates the database named in `url` when missing, then applies the committed drizzle migrations. */
export async function runMigrations(url: string): Promise<void> {
  const parsed = new URL(url);
  const dbName = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(dbName)) throw new Error(`DATABASE_URL must name a database ([A-Za-z0-9_]+), got "${dbName}"`);
  const serverUrl = new URL(url);
  serverUrl.pathname = '/';
  const admin = await mysql.createConnection({ uri: serverUrl.toString() });
  try {
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await admin.end();
  }
  const conn = await mysql.createConnection({ uri: url, timezone: 'Z', multipleStatements: false });
  try {
    await migrate(drizzle(conn), { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await conn.end();
  }
}
