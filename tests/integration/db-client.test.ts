import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { createTestDatabase } from '../support/harness.js';
import { createDatabase, type Database } from '../../server/db/client.js';
import { prepared } from '../../server/db/prepared.js';
import { afterCommit } from '../../server/db/after-commit.js';
import { airports } from '../../server/db/schema/index.js';
import type { Db, DbOrTx } from '../../server/db/types.js';

/**
 * The database client the app runs on: transactions on a drizzle handle kept per pooled connection, so
 * that statements inside them are prepared once per connection (db/prepared.ts), and mysql2 capturing
 * no stack per call (db/client.ts).
 */
let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
let small: Database; // two connections, so that every test reuses them many times
beforeAll(async () => {
  testDb = await createTestDatabase();
  small = createDatabase(testDb.url, { connectionLimit: 2 });
});
afterAll(async () => {
  await small?.close();
  await testDb?.drop();
});

let seq = 0;
const code = () => `Z${(seq++).toString(36).toUpperCase().padStart(2, '0')}`.slice(0, 3);
const airportNamed = (iata: string, name: string) => ({ iata, name, city: 'Test', country: 'SA', timeZone: 'Asia/Riyadh' });

const builtOn: object[] = [];
const insertAirport = prepared((db) => {
  builtOn.push(db);
  return db
    .insert(airports)
    .values({ iata: sql.placeholder('iata'), name: sql.placeholder('name'), city: 'Test', country: 'SA', timeZone: 'Asia/Riyadh' })
    .prepare();
});
const connectionId = prepared((db) => db.select({ id: sql<number>`CONNECTION_ID()` }).from(sql`DUAL`).prepare());
const nameOf = async (db: DbOrTx, iata: string) => (await db.select({ name: airports.name }).from(airports).where(eq(airports.iata, iata)))[0]?.name;
const sessionId = async (db: DbOrTx) => Number(((await db.execute(sql`SELECT CONNECTION_ID() AS id`)) as unknown as [[{ id: number }]])[0][0].id);

describe('statements prepared for transactions', () => {
  it('run inside the transaction: a rollback undoes them, a commit keeps them', async () => {
    const [kept, undone] = [code(), code()];
    await small.db.transaction(async (tx) => {
      await insertAirport(tx).execute({ iata: kept, name: 'kept' });
    });
    await expect(
      small.db.transaction(async (tx) => {
        await insertAirport(tx).execute({ iata: undone, name: 'undone' });
        expect(await nameOf(tx, undone)).toBe('undone');
        throw new Error('roll it back');
      }),
    ).rejects.toThrow('roll it back');
    expect(await nameOf(small.db, kept)).toBe('kept');
    expect(await nameOf(small.db, undone)).toBeUndefined();
  });

  it('run on the connection their transaction holds, whatever else runs at the same time', async () => {
    const seen = await Promise.all(
      Array.from({ length: 40 }, () =>
        small.db.transaction(async (tx) => {
          const own = await sessionId(tx);
          const [row] = await connectionId(tx).execute();
          return { own, prepared: Number(row!.id) };
        }),
      ),
    );
    for (const s of seen) expect(s.prepared).toBe(s.own);
    expect(new Set(seen.map((s) => s.own)).size).toBe(2);
  });

  const insertOnTwoConnections = () =>
    Promise.allSettled(
      Array.from({ length: 2 }, () =>
        small.db.transaction(async (tx) => {
          await insertAirport(tx).execute({ iata: code(), name: 'two at once' });
          return sessionId(tx);
        }),
      ),
    );

  it('are built once per pooled connection, then reused by every transaction on it', async () => {
    await insertOnTwoConnections(); // both connections open, and built for
    const before = builtOn.length;
    const connections = new Set<number>();
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 6 }, () =>
          small.db.transaction(async (tx) => {
            connections.add(await sessionId(tx));
            await insertAirport(tx).execute({ iata: code(), name: 'reused' });
          }),
        ),
      );
    }
    expect(connections.size).toBe(2);
    expect(builtOn.length - before).toBe(0);
    expect(new Set(builtOn).size).toBe(builtOn.length);
  });

  it('are built again on the connection that replaces one the server killed', async () => {
    const first = await insertOnTwoConnections();
    const victim = (first[0] as PromiseFulfilledResult<number>).value;
    await testDb.database.db.execute(sql.raw(`KILL CONNECTION ${victim}`));
    const before = builtOn.length;
    // The pool learns of the kill when the dead connection is next used: that attempt fails, as a
    // transaction on a lost connection always has, and the connection leaves the pool.
    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push(...(await insertOnTwoConnections()));
    const failed = outcomes.filter((o) => o.status === 'rejected');
    const landed = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    expect(failed.length).toBeLessThanOrEqual(1);
    for (const f of failed) expect(String(f.reason?.cause ?? f.reason)).toMatch(/closed|lost|ECONNRESET|EPIPE/i);
    expect(landed).not.toContain(victim);
    expect(new Set(landed).size).toBe(2);
    expect(builtOn.length - before).toBe(1);
  });

  it('in a transaction nested in another are prepared on it, and its savepoint rollback undoes them', async () => {
    const [outer, inner] = [code(), code()];
    await small.db.transaction(async (tx) => {
      await insertAirport(tx).execute({ iata: outer, name: 'outer' });
      await expect(
        tx.transaction(async (nested) => {
          await insertAirport(nested).execute({ iata: inner, name: 'inner' });
          throw new Error('roll the savepoint back');
        }),
      ).rejects.toThrow('roll the savepoint back');
    });
    expect(await nameOf(small.db, outer)).toBe('outer');
    expect(await nameOf(small.db, inner)).toBeUndefined();
  });

  it('on the pool are built once for the pool', async () => {
    const before = builtOn.length;
    for (let i = 0; i < 3; i++) await insertAirport(small.db).execute({ iata: code(), name: 'on the pool' });
    expect(builtOn.length - before).toBe(1);
    expect(builtOn[before]).toBe(small.db);
  });
});

describe('transactions', () => {
  it('run after-commit hooks once after the commit, never after a rollback', async () => {
    const ran: string[] = [];
    await small.db.transaction(async (tx) => {
      afterCommit(tx, () => ran.push('committed'));
      expect(ran).toEqual([]);
    });
    await small.db
      .transaction(async (tx) => {
        afterCommit(tx, () => ran.push('rolled back'));
        throw new Error('no');
      })
      .catch(() => undefined);
    expect(ran).toEqual(['committed']);
  });

  it('release their connection whatever happens: a pool of two survives many failed ones', async () => {
    for (let i = 0; i < 10; i++) {
      await expect(
        small.db.transaction(async (tx) => {
          await tx.insert(airports).values(airportNamed('RUH', 'duplicate'));
          await tx.insert(airports).values(airportNamed('RUH', 'duplicate'));
        }),
      ).rejects.toThrow();
    }
    expect(await small.db.transaction((tx) => sessionId(tx))).toBeGreaterThan(0);
  });
});

async function insertTheSameAirportTwice(db: Db) {
  const iata = code();
  await db.insert(airports).values(airportNamed(iata, 'once'));
  await db.insert(airports).values(airportNamed(iata, 'twice'));
}

describe('a failing query', () => {
  it('names the code that ran it, though mysql2 captures no stack per call', async () => {
    const err = (await insertTheSameAirportTwice(small.db).catch((e: unknown) => e)) as Error & { cause?: { code?: string } };
    expect(err.cause?.code).toBe('ER_DUP_ENTRY');
    expect(err.stack).toContain('insertTheSameAirportTwice');
  });
});
