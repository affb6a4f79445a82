import type mysql from 'mysql2/promise';
import type { Db, DbOrTx, Tx } from './types.js';

/**
 * Statements prepared once and reused, on the pool and inside transactions.
 *
 * Drizzle builds a statement's SQL on every call (about 0.3 ms for the eight statements of a booking's
 * transaction), and a drizzle prepared statement belongs to the session it was prepared on. On the pool
 * that is one session for the process. A transaction gets a session of its own on the connection it
 * holds, new every time, so the pool's transactions run here instead, on a drizzle handle kept per
 * pooled connection (`transactionsPerConnection`): a statement prepared on that handle runs on the
 * same connection, inside whatever transaction is open on it, and is built once per connection.
 */

/** The handle of the connection each open transaction runs on. */
const handleOf = new WeakMap<Tx, Db>();

/**
 * `db.transaction` for a pool, run on a drizzle handle kept per pooled connection (`handleFor` makes
 * one over a connection); BEGIN, COMMIT and ROLLBACK are drizzle's own, the connection is released
 * afterwards whatever happened. A connection the pool drops takes its handle and statements with it.
 */
export function transactionsPerConnection(pool: mysql.Pool, handleFor: (conn: mysql.PoolConnection) => Db): Db['transaction'] {
  // Keyed by the pooled connection itself: mysql2 wraps it in a new promise object on every checkout.
  const handles = new WeakMap<object, Db>();
  return async (work, config) => {
    const conn = await pool.getConnection();
    try {
      let handle = handles.get(conn.connection);
      if (!handle) handles.set(conn.connection, (handle = handleFor(conn)));
      const own = handle;
      return await own.transaction((tx) => {
        handleOf.set(tx, own);
        return work(tx);
      }, config);
    } finally {
      conn.release();
    }
  };
}

/**
 * A statement built once per session and reused: `build` receives the pool's handle, or the handle of
 * the connection a transaction runs on, and returns drizzle's `.prepare()`d statement. Pass the `db` or
 * the `tx` the caller was given. A transaction nested in another (a savepoint) has no handle of its
 * own; its statements are prepared on it, for its life.
 */
export function prepared<Q>(build: (db: Db) => Q): (db: DbOrTx) => Q {
  const built = new WeakMap<object, Q>();
  return (dbOrTx) => {
    const on = handleOf.get(dbOrTx as Tx) ?? (dbOrTx as Db);
    let q = built.get(on);
    if (!q) built.set(on, (q = build(on)));
    return q;
  };
}
