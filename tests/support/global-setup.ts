import mysql from 'mysql2/promise';
import { MYSQL_SERVER_URL } from './test-env.js';

/**
 * Drops test databases left behind by runs that were killed before their own cleanup. Only those
 * older than two hours: a run going on in parallel (another terminal, CI) keeps its databases.
 */
export default async function globalSetup(): Promise<void> {
  const conn = await mysql.createConnection({ uri: `${MYSQL_SERVER_URL}/` });
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      `SELECT s.SCHEMA_NAME AS name FROM information_schema.SCHEMATA s
       WHERE s.SCHEMA_NAME LIKE 'fbt\\_%'
         AND NOT EXISTS (SELECT 1 FROM information_schema.TABLES t
                         WHERE t.TABLE_SCHEMA = s.SCHEMA_NAME AND t.CREATE_TIME > NOW() - INTERVAL 2 HOUR)`,
    );
    for (const row of rows) await conn.query(`DROP DATABASE IF EXISTS \`${row.name as string}\``);
    // Users made by createDatabaseUser carry their database's name: drop those whose database is gone.
    const [users] = await conn.query<mysql.RowDataPacket[]>(
      `SELECT User AS name FROM mysql.user WHERE User LIKE 'fbt\\_%'
         AND User NOT IN (SELECT SCHEMA_NAME FROM information_schema.SCHEMATA)`,
    );
    for (const user of users) await conn.query("DROP USER IF EXISTS ?@'%'", [user.name as string]);
  } finally {
    await conn.end();
  }
}
