import mysql from 'mysql2/promise';
import { MYSQL_SERVER_URL } from './test-env.js';

/** Drops databases left behind by test runs that were killed before their own cleanup. */
export default async function globalSetup(): Promise<void> {
  const conn = await mysql.createConnection({ uri: `${MYSQL_SERVER_URL}/` });
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>("SHOW DATABASES LIKE 'fbt\\_%'");
    for (const row of rows) await conn.query(`DROP DATABASE IF EXISTS \`${Object.values(row)[0] as string}\``);
  } finally {
    await conn.end();
  }
}
