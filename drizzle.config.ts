import { defineConfig } from 'drizzle-kit';

// drizzle-kit only needs the schema to generate migrations; the app applies them with
// `npm run db:migrate` (server/scripts/migrate.ts), which reads DATABASE_URL through server/env.ts.
export default defineConfig({
  dialect: 'mysql',
  schema: './server/db/schema/index.ts',
  out: './drizzle',
  casing: 'snake_case',
  strict: true,
  verbose: true,
});
