import type { Db, DbOrTx } from './types.js';

/**
 * Work to do once a transaction has committed, never if it rolls back: counting a booking transition
 * or a ledger entry in the metrics must not count the attempt a deadlock or a failed insert undid.
 * Hooks are kept per transaction handle; `withAfterCommit` makes `db.transaction` run them after the
 * COMMIT succeeds and drop them when it fails.
 */
const pending = new WeakMap<object, (() => void)[]>();

/**
 * Runs `fn` after `tx` commits, or at once when `tx` is not an open transaction (the plain `db`, whose
 * statements commit as they run). A nested transaction (a savepoint) is not tracked: its hooks run at
 * once. `fn` must be cheap and must not throw (a throw is swallowed: the commit has happened).
 */
export function afterCommit(tx: DbOrTx, fn: () => void): void {
  const hooks = pending.get(tx);
  if (hooks) hooks.push(fn);
  else runHook(fn);
}

function runHook(fn: () => void): void {
  try {
    fn();
  } catch {
    // An after-commit hook is bookkeeping (metrics); the committed change stands whatever it does.
  }
}

/** Wraps `db.transaction` so that hooks registered with `afterCommit(tx, ...)` run after the commit. */
export function withAfterCommit(db: Db): Db {
  const original = db.transaction.bind(db);
  const transaction: Db['transaction'] = async (fn, config) => {
    let handle: object | undefined;
    try {
      const result = await original((tx) => {
        handle = tx;
        pending.set(tx, []);
        return fn(tx);
      }, config);
      const hooks = handle ? pending.get(handle) : undefined;
      if (handle) pending.delete(handle);
      for (const hook of hooks ?? []) runHook(hook);
      return result;
    } catch (err) {
      if (handle) pending.delete(handle);
      throw err;
    }
  };
  (db as { transaction: Db['transaction'] }).transaction = transaction;
  return db;
}
