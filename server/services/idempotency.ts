import { and, eq, lte, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db, Tx } from '../db/types.js';
import type { Clock } from '../deps.js';
import { idempotencyRequests } from '../db/schema/index.js';
import { prepared } from '../db/prepared.js';
import { AppError, mysqlErrorCode } from '../lib/errors.js';
import { canonicalJson, sha256Hex } from '../lib/canonical-json.js';
import { logger } from '../lib/logger.js';

/**
 * Database-backed idempotency for mutations a client may retry.
 *
 * One row per (scope, principal, key). The first caller claims it (INSERT IGNORE, atomic); the business
 * change and the row's completion (status + stored response) commit in ONE transaction, so a crash can
 * never leave a booking created while its key still says "started". Retries with the same input get
 * the stored response; a different input is IDEMPOTENCY_PAYLOAD_MISMATCH; a retry while the first is
 * running is IDEMPOTENCY_IN_PROGRESS. A claim whose holder died is taken over once `locked_until`
 * passes. A failed attempt deletes its claim, so the key stays retryable.
 */

export const IDEMPOTENCY_TTL_HOURS = 24;
export const IdempotencyKey = z
  .string()
  .min(8, 'idempotencyKey must be 8 to 255 printable characters')
  .max(255, 'idempotencyKey must be 8 to 255 printable characters')
  .regex(/^[\x20-\x7E]+$/, 'idempotencyKey must be 8 to 255 printable characters')
  .refine((k) => k.trim().length >= 8, 'idempotencyKey must be 8 to 255 printable characters');

export interface IdempotencySpec {
  /** The operation, e.g. `bookings.create`. */
  scope: string;
  /** Who is calling; never null: `user:42`, `stripe`, `system`. */
  principal: string;
  key: string;
  /** The request input WITHOUT the key; its canonical JSON is fingerprinted. */
  input: unknown;
  /** How long a claim protects a running attempt before another may take it over. */
  lockSeconds?: number;
}

export interface IdempotencyControl<T> {
  /**
   * Completes the key inside the caller's business transaction: verifies the claim is still ours (not
   * taken over after a lock timeout) and stores the response. Call it last, in the same transaction.
   */
  finish(tx: Tx, response: T): Promise<void>;
}

export function fingerprint(input: unknown): string {
  return sha256Hex(canonicalJson(input));
}

/** JSON round trip: the first caller gets exactly what every replay will get. */
function asStored<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** The database the keys live in, and the clock their locks and 24 hours are measured by. */
export interface IdempotencyDeps {
  db: Db;
  clock: Clock;
}

export async function withIdempotency<T>(
  deps: IdempotencyDeps,
  spec: IdempotencySpec,
  work: (control: IdempotencyControl<T>) => Promise<T>,
): Promise<{ response: T; replayed: boolean }> {
  const parsedKey = IdempotencyKey.safeParse(spec.key);
  if (!parsedKey.success) throw new AppError('VALIDATION', parsedKey.error.issues[0]!.message);
  const fp = fingerprint(spec.input);
  const lockMs = (spec.lockSeconds ?? 30) * 1000;
  const claim = await claimKey(deps, spec, fp, lockMs);
  if ('replay' in claim) return { response: claim.replay as T, replayed: true };

  // What finish() stored: the first caller gets exactly what every replay will get.
  let stored: { response: T } | undefined;
  const control: IdempotencyControl<T> = {
    async finish(tx, response) {
      const value = asStored(response);
      // One conditional UPDATE both checks the claim is still ours (not taken over after a lock
      // timeout: a takeover writes a new locked_until) and completes it, under the row's lock.
      const [res] = await claimCompleted(tx).execute({ id: claim.id, lockedUntil: claim.lockedUntil, response: value });
      if (res.affectedRows !== 1) {
        // Our claim timed out and another attempt took the key over: roll our changes back.
        throw new AppError('IDEMPOTENCY_IN_PROGRESS', 'This request is being retried by another attempt', undefined, 1);
      }
      stored = { response: value };
    },
  };

  try {
    await work(control);
    if (!stored) throw new Error(`idempotent operation ${spec.scope} returned without calling finish()`);
    return { response: stored.response, replayed: false };
  } catch (err) {
    // Deletes only a claim still 'started' with our lock: if the business transaction (or its COMMIT)
    // failed, the key becomes retryable at once; if it committed, the completed row stays.
    await releaseClaim(deps.db, claim.id, claim.lockedUntil);
    throw err;
  }
}

type Claim = { id: number; lockedUntil: Date } | { replay: unknown };

/** Completes a claim inside the business transaction, prepared once per connection (db/prepared.ts). */
const claimCompleted = prepared((db) =>
  db
    .update(idempotencyRequests)
    .set({ status: 'completed', response: sql.placeholder('response') })
    .where(
      and(
        eq(idempotencyRequests.id, sql.placeholder('id')),
        eq(idempotencyRequests.status, 'started'),
        eq(idempotencyRequests.lockedUntil, sql.placeholder('lockedUntil')),
      ),
    )
    .prepare(),
);

/** The claim's INSERT IGNORE, the first statement of every idempotent request (on the pool), prepared once. */
const claimStatement = prepared((db) =>
  db
    .insert(idempotencyRequests)
    .ignore()
    .values({
      scope: sql.placeholder('scope'),
      principal: sql.placeholder('principal'),
      idempotencyKey: sql.placeholder('key'),
      fingerprint: sql.placeholder('fingerprint'),
      status: 'started',
      lockedUntil: sql.placeholder('lockedUntil'),
      expiresAt: sql.placeholder('expiresAt'),
    })
    .prepare(),
);

async function claimKey({ db, clock }: IdempotencyDeps, spec: IdempotencySpec, fp: string, lockMs: number): Promise<Claim> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const now = clock.now();
    const lockedUntil = new Date(now.getTime() + lockMs);
    const expiresAt = new Date(now.getTime() + IDEMPOTENCY_TTL_HOURS * 3600_000);
    const [ins] = await claimStatement(db).execute({ scope: spec.scope, principal: spec.principal, key: spec.key, fingerprint: fp, lockedUntil, expiresAt });
    if (ins.affectedRows === 1) return { id: ins.insertId, lockedUntil };

    const [row] = await db
      .select()
      .from(idempotencyRequests)
      .where(and(eq(idempotencyRequests.scope, spec.scope), eq(idempotencyRequests.principal, spec.principal), eq(idempotencyRequests.idempotencyKey, spec.key)))
      .limit(1);
    if (!row) continue; // deleted between our insert and read (a failed attempt released it): try again

    if (row.expiresAt <= now) {
      // A key past its 24 hours is a new request; reuse the row rather than racing the cleanup job.
      const [upd] = await db
        .update(idempotencyRequests)
        .set({ fingerprint: fp, status: 'started', response: null, lockedUntil, expiresAt })
        .where(and(eq(idempotencyRequests.id, row.id), lte(idempotencyRequests.expiresAt, now)));
      if (upd.affectedRows === 1) return { id: row.id, lockedUntil };
      continue;
    }
    if (row.fingerprint !== fp) {
      throw new AppError('IDEMPOTENCY_PAYLOAD_MISMATCH', 'This idempotency key was already used with a different request');
    }
    if (row.status === 'completed') return { replay: row.response };
    if (row.lockedUntil > now) {
      throw new AppError('IDEMPOTENCY_IN_PROGRESS', 'A request with this idempotency key is still being processed; retry shortly', undefined, 1);
    }
    // The holder died (its lock lapsed): take the key over, atomically against other takers.
    const [takeover] = await db
      .update(idempotencyRequests)
      .set({ lockedUntil })
      .where(and(eq(idempotencyRequests.id, row.id), eq(idempotencyRequests.status, 'started'), lte(idempotencyRequests.lockedUntil, now)));
    if (takeover.affectedRows === 1) {
      logger.warn({ scope: spec.scope, principal: spec.principal }, 'took over an idempotency key whose holder timed out');
      return { id: row.id, lockedUntil };
    }
  }
  throw new AppError('IDEMPOTENCY_IN_PROGRESS', 'A request with this idempotency key is still being processed; retry shortly', undefined, 1);
}

async function releaseClaim(db: Db, id: number, lockedUntil: Date): Promise<void> {
  try {
    await db
      .delete(idempotencyRequests)
      .where(and(eq(idempotencyRequests.id, id), eq(idempotencyRequests.status, 'started'), eq(idempotencyRequests.lockedUntil, lockedUntil)));
  } catch (err) {
    // The claim then simply lapses after its lock timeout.
    logger.warn({ err, id }, 'could not release an idempotency claim');
  }
}

/** Runs of a transaction InnoDB chose as a deadlock's victim, before the conflict goes to the client (503). */
export const DEADLOCK_ATTEMPTS = 3;

/**
 * The common case: the whole operation is one transaction. A deadlock victim's transaction was rolled
 * back whole by InnoDB, so it is run again (a few milliseconds later, jittered so the two do not meet
 * again); one that keeps losing reaches the client as a retryable 503 (lib/errors.ts contentionError).
 */
export function idempotentTransaction<T>(deps: IdempotencyDeps, spec: IdempotencySpec, work: (tx: Tx) => Promise<T>) {
  return withIdempotency<T>(deps, spec, async ({ finish }) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await deps.db.transaction(async (tx) => {
          const response = await work(tx);
          await finish(tx, response);
          return response;
        });
      } catch (err) {
        if (attempt >= DEADLOCK_ATTEMPTS || mysqlErrorCode(err) !== 'ER_LOCK_DEADLOCK') throw err;
        logger.warn({ scope: spec.scope, attempt }, 'deadlock victim; running the transaction again');
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
      }
    }
  });
}

/** Deletes expired keys in small batches so the table never locks for long. Returns rows deleted. */
export async function deleteExpiredIdempotencyKeys(deps: IdempotencyDeps, opts: { batchSize?: number; maxBatches?: number } = {}): Promise<number> {
  const batchSize = opts.batchSize ?? 500;
  const now = deps.clock.now();
  let total = 0;
  for (let i = 0; i < (opts.maxBatches ?? 100); i++) {
    const [res] = (await deps.db.execute(
      sql`DELETE FROM ${idempotencyRequests} WHERE ${idempotencyRequests.expiresAt} <= ${now} ORDER BY ${idempotencyRequests.expiresAt} LIMIT ${batchSize}`,
    )) as unknown as [{ affectedRows: number }];
    total += res.affectedRows;
    if (res.affectedRows < batchSize) break;
  }
  return total;
}
