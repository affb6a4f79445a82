import mysql from 'mysql2/promise';
import { drizzle } from 'drizzle-orm/mysql2';
import * as schema from './schema/index.js';
import type { Db } from './types.js';
import { withAfterCommit } from './after-commit.js';

export interface Database {
  db: Db;
  pool: mysql.Pool;
  close(): Promise<void>;
}

export function createDatabase(url: string, opts: { connectionLimit?: number } = {}): Database {
  const pool = mysql.createPool({
    uri: url,
    connectionLimit: opts.connectionLimit ?? 20,
    // Every DATETIME is UTC: the driver converts with Z, and the session's NOW() agrees.
    timezone: 'Z',
    supportBigNumbers: true,
    // affectedRows must mean rows CHANGED, not rows matched: a conditional UPDATE that lost a race, or
    // an INSERT ... ON DUPLICATE KEY UPDATE id = id that hit a duplicate, then reports 0.
    flags: ['-FOUND_ROWS'],
    connectTimeout: 5000,
    enableKeepAlive: true,
  });
  pool.pool.on('connection', (conn) => {
    // READ COMMITTED: conditional UPDATEs and FOR UPDATE see the latest committed row, and gap locks
    // (the usual source of InnoDB deadlocks under concurrent inserts) are not taken.
    // Two statements: the isolation syntax is the one both MySQL 8 and MariaDB accept.
    conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    conn.query("SET time_zone = '+00:00', innodb_lock_wait_timeout = 10");
  });
  const db = withAfterCommit(drizzle(pool, { schema, mode: 'default' }) as Db);
  return { db, pool, close: () => pool.end() };
}
