import type { MySql2Database } from 'drizzle-orm/mysql2';
import type * as schema from './schema/index.js';

export type Db = MySql2Database<typeof schema>;
/** A transaction handle; services accept `Db | Tx` so they run inside a caller's transaction. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;
