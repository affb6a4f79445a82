import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { bookAndOpenCheckout, bookingRow, ledgerFor, newKey } from '../support/booking-flow.js';
import { startTestApp, type TestContext } from '../support/harness.js';
import { eventually } from '../support/e2e.js';
import { ROOT_DIR } from '../support/test-env.js';

// The privileges docker-compose.yml gives the app's own database user: the test runs the app with
// exactly those, so the compose file cannot drift from what is proven here.
const compose = readFileSync(path.join(ROOT_DIR, 'docker-compose.yml'), 'utf8');
const APP_PRIVILEGES = /GRANT ([A-Z, ]+) ON flight_booking\.\* TO 'flight_app'@'%'/.exec(compose)?.[1];

describe("the app's database user, with docker-compose.yml's grants", () => {
  let t: TestContext;
  let app: mysql.Connection;
  beforeAll(async () => {
    expect(APP_PRIVILEGES, "docker-compose.yml grants flight_app its privileges on flight_booking.*").toBeTruthy();
    // The worker's queues run in-process, as that user too: the refund reaches Stripe through them.
    t = await startTestApp({ databasePrivileges: APP_PRIVILEGES!, workers: true });
    app = await mysql.createConnection({ uri: t.appDatabaseUrl });
  });
  afterAll(async () => {
    await app?.end();
    await t?.close();
  });

  it.each([
    ['drop an append-only trigger', 'DROP TRIGGER trg_financial_ledger_no_update'],
    ['replace one', "CREATE TRIGGER trg_sneaky BEFORE UPDATE ON booking_transitions FOR EACH ROW SET NEW.to_status = NEW.to_status"],
    ['alter the ledger', 'ALTER TABLE financial_ledger ADD COLUMN note varchar(10)'],
    ['drop the ledger', 'DROP TABLE financial_ledger'],
    ['truncate the ledger', 'TRUNCATE TABLE financial_ledger'],
    ['create a table', 'CREATE TABLE scratch (id int PRIMARY KEY)'],
    ['drop its database', 'DROP DATABASE IF EXISTS `{db}`'],
    ['grant itself more', 'GRANT ALL ON `{db}`.* TO CURRENT_USER'],
  ])('cannot %s', async (_what, statement) => {
    const err = await app.query(statement.replace('{db}', t.databaseName)).then(() => undefined, (e: { code?: string; message: string }) => e);
    expect(err?.code, `${statement} must be refused`).toMatch(/^ER_(TABLEACCESS|DBACCESS|ACCESS|SPECIFIC_ACCESS)_DENIED/);
  });

  it('runs the money path with them: book, pay, confirm with one charge, refund with one refund entry', async () => {
    const { booking, client, sessionId } = await bookAndOpenCheckout(t, { passengers: 2, priceMinor: 45_000 });
    const paid = await t.fakeStripe.deliverAll(t.fakeStripe.completeSession(sessionId));
    expect(paid.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'confirmed' });

    const before = t.fakeStripe.events.length;
    expect(await client.payments.requestRefund.mutate({ bookingId: booking.id, idempotencyKey: newKey() })).toMatchObject({ status: 'refund_pending' });
    await eventually(async () => t.fakeStripe.events.slice(before).some((e) => e.type === 'charge.refunded'));
    const refundEvents = t.fakeStripe.events.slice(before);
    for (const r of await t.fakeStripe.deliverAll(refundEvents)) expect(r.status).toBe(200);
    expect(await bookingRow(t, booking.id)).toMatchObject({ status: 'refunded' });
    expect((await ledgerFor(t, booking.id)).map((e) => [e.entryType, e.amountMinor])).toEqual([
      ['charge', 90_000],
      ['refund', 90_000],
    ]);
    // And its own UPDATE of a ledger row is refused by the trigger it could not drop.
    await expect(app.query('UPDATE financial_ledger SET amount_minor = 1')).rejects.toMatchObject({ sqlState: '45000' });
    await expect(app.query('DELETE FROM financial_ledger')).rejects.toMatchObject({ sqlState: '45000' });
  });
});
