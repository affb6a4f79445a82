import { eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/types.js';
import { financialLedger, type LedgerEntryType } from '../db/schema/index.js';
import { afterCommit } from '../db/after-commit.js';
import { metrics } from '../lib/metrics.js';

/**
 * The money ledger. Append-only: this module only inserts (database triggers refuse UPDATE and
 * DELETE); a correction is a new entry. Each entry names the money movement it records in
 * `movement_key`, under a unique index, so the same money cannot be booked twice whichever of
 * several events reports it, however often and however concurrently.
 */

export interface LedgerEntryInput {
  bookingId: number;
  userId: number;
  amountMinor: number;
  /** ISO code; stored upper-case whatever case Stripe used. */
  currency: string;
  paymentIntentId: string;
  chargeId?: string | null;
  /** Required for refunds and reversals. */
  refundId?: string | null;
  /** The event that caused the entry (the first one to report this movement). */
  eventId: string;
}

export function movementKey(type: LedgerEntryType, e: Pick<LedgerEntryInput, 'paymentIntentId' | 'refundId'>): string {
  if (type === 'charge') return `charge:${e.paymentIntentId}`;
  if (!e.refundId) throw new Error(`a ${type} ledger entry needs a refund id`);
  return `${type}:${e.refundId}`;
}

/**
 * Inserts the entry unless its movement is already booked. Returns true when this call booked it.
 * INSERT IGNORE reports a duplicate as 0 affected rows without an error (a duplicate-key error would
 * not abort a MySQL transaction anyway, but would need unwrapping from drizzle's error); because IGNORE
 * would also swallow other errors, a 0 is confirmed by finding the existing row.
 */
export async function recordLedgerEntry(tx: DbOrTx, type: LedgerEntryType, e: LedgerEntryInput): Promise<boolean> {
  if (!Number.isSafeInteger(e.amountMinor) || e.amountMinor <= 0) throw new Error(`ledger amount must be a positive integer, got ${e.amountMinor}`);
  const key = movementKey(type, e);
  const [res] = await tx
    .insert(financialLedger)
    .ignore()
    .values({
      entryType: type,
      movementKey: key,
      bookingId: e.bookingId,
      userId: e.userId,
      amountMinor: e.amountMinor,
      currency: e.currency.toUpperCase(),
      stripePaymentIntentId: e.paymentIntentId,
      stripeChargeId: e.chargeId ?? null,
      stripeRefundId: type === 'charge' ? null : e.refundId!,
      stripeEventId: e.eventId,
    });
  if (res.affectedRows === 1) {
    afterCommit(tx, () => metrics.ledgerEntry(type));
    return true;
  }
  const [existing] = await tx.select({ id: financialLedger.id }).from(financialLedger).where(eq(financialLedger.movementKey, key));
  if (!existing) throw new Error(`ledger insert for ${key} was ignored but no entry exists (constraint violation?)`);
  return false;
}

export interface PaymentIntentBalance {
  chargedMinor: number;
  refundedMinor: number;
  /** charged - refunded + reversed refunds: what we still hold for this payment intent. */
  netMinor: number;
}

export async function paymentIntentBalance(tx: DbOrTx, paymentIntentId: string): Promise<PaymentIntentBalance> {
  const [row] = await tx
    .select({
      charged: sql<string>`COALESCE(SUM(CASE WHEN ${financialLedger.entryType} = 'charge' THEN ${financialLedger.amountMinor} END), 0)`,
      refunded: sql<string>`COALESCE(SUM(CASE WHEN ${financialLedger.entryType} = 'refund' THEN ${financialLedger.amountMinor} END), 0)`,
      reversed: sql<string>`COALESCE(SUM(CASE WHEN ${financialLedger.entryType} = 'refund_reversal' THEN ${financialLedger.amountMinor} END), 0)`,
    })
    .from(financialLedger)
    .where(eq(financialLedger.stripePaymentIntentId, paymentIntentId));
  const chargedMinor = Number(row?.charged ?? 0);
  const refundedMinor = Number(row?.refunded ?? 0) - Number(row?.reversed ?? 0);
  return { chargedMinor, refundedMinor, netMinor: chargedMinor - refundedMinor };
}
