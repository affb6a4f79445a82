import './load-dotenv.js';
import { eq } from 'drizzle-orm';
import { env } from '../env.js';
import { logger } from '../lib/logger.js';
import { createDatabase } from '../db/client.js';
import { users } from '../db/schema/index.js';

const email = process.argv[2]?.trim().toLowerCase();
if (!email) {
  logger.error('usage: npm run users:make-admin -- <email>');
  process.exit(64);
}
const database = createDatabase(env.DATABASE_URL, { connectionLimit: 1 });
try {
  const [res] = await database.db.update(users).set({ role: 'admin' }).where(eq(users.email, email));
  if (res.affectedRows === 0) {
    logger.error({ email }, 'no user with that email');
    process.exitCode = 1;
  } else {
    logger.info({ email }, 'user is now an admin (takes effect on their next access token)');
  }
} finally {
  await database.close();
}
