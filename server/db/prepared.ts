import type { Db } from './types.js';

/**
 * A drizzle prepared statement built once per database handle and reused: drizzle otherwise builds a
 * statement's SQL on every call. Only for statements run on the handle itself (the pool), never inside a
 * transaction: a prepared statement belongs to the session it was prepared on, and every transaction has
 * a session of its own.
 */
export function preparedPerDb<Q>(build: (db: Db) => Q): (db: Db) => Q {
  const built = new WeakMap<Db, Q>();
  return (db) => {
    let q = built.get(db);
    if (!q) built.set(db, (q = build(db)));
    return q;
  };
}
