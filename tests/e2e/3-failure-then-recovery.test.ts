import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, eq, sql } from 'drizzle-orm';
import { startE2E, type E2EContext } from '../support/e2e.js';
import { bookAndOpenCheckout, bookingRow } from '../support/booking-flow.js';
import { bookingTransitions, financialLedger, stripeEvents } from '../../server/db/schema/index.js';

let e: E2EContext;
beforeAll(async () => {
  e = await startE2E();
});
afterAll(async () => {
  await e?.db.execute(sql.raw('DROP TRIGGER IF EXISTS trg_e2e_refuse_ledger')).catch(() => undefined);
  await e?.close();
});

describe('e2e 3: a failure in the middle, then recovery', () => {
  it('the database refuses the ledger write: 500, nothing changed, event kept unprocessed with retry_count 1; after the fault, redelivery confirms once', async () => {
    const { booking, sessionId } = await bookAndOpenCheckout(e, { seats: 20, passengers: 1 });
    const completed = e.fakeStripe.completeSession(sessionId).find((x) => x.type === 'checkout.session.completed')!;

    // The fault lives in the database, not behind a flag in production code.
    await e.db.execute(sql.raw(`CREATE TRIGGER trg_e2e_refuse_ledger BEFORE INSERT ON financial_ledger FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger offline'`));
    const failed = await e.fakeStripe.deliver(completed);
    expect(failed.status).toBe(500);
    const during = await bookingRow(e, booking.id);
    expect(during).toMatchObject({ status: 'pending_payment', paymentStatus: 'unpaid' });
    const [ledgerDuring] = await e.db.select({ n: count() }).from(financialLedger);
    expect(ledgerDuring!.n).toBe(0);
    const [stored] = await e.db.select().from(stripeEvents).where(eq(stripeEvents.id, completed.id));
    expect(stored).toMatchObject({ processed: false, retryCount: 1 });

    await e.db.execute(sql.raw('DROP TRIGGER trg_e2e_refuse_ledger'));
    const retried = await e.fakeStripe.deliver(completed);
    expect(retried.status).toBe(200);
    const after = await bookingRow(e, booking.id);
    expect(after!.status).toBe('confirmed');
    const ledger = await e.db.select().from(financialLedger).where(eq(financialLedger.bookingId, booking.id));
    expect(ledger).toHaveLength(1);
    expect(ledger[0]!.amountMinor).toBe(booking.totalMinor);
    const [toConfirmed] = await e.db.select({ n: count() }).from(bookingTransitions).where(eq(bookingTransitions.toStatus, 'confirmed'));
    expect(toConfirmed!.n).toBe(1);
    const [final] = await e.db.select().from(stripeEvents).where(eq(stripeEvents.id, completed.id));
    expect(final).toMatchObject({ processed: true, retryCount: 1 });
    expect((await e.fakeStripe.deliver(completed)).status).toBe(200);
    expect(await e.db.select().from(financialLedger).where(eq(financialLedger.bookingId, booking.id))).toHaveLength(1);
  });
});
