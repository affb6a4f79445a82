import { and, gte, inArray, isNotNull, or } from 'drizzle-orm';
import { bookings, financialLedger, type MismatchKind, type ReconciliationMismatch } from '../db/schema/index.js';
import { paymentIntentBalance, type PaymentIntentBalance } from './ledger.js';
import type { ReconcileDeps, ReconciliationReport } from './reconciliation.js';

/**
 * Step 3 of the reconciliation: per payment intent of every booking touched in the window (a ledger
 * entry, a booking change, an event naming it), our ledger's net against Stripe's.
 */
export async function compareLedger(deps: ReconcileDeps, report: ReconciliationReport, fromEvents: Set<string>): Promise<void> {
  const since = report.windowStart;
  const touched = await deps.db
    .selectDistinct({ bookingId: financialLedger.bookingId, pi: financialLedger.stripePaymentIntentId, currency: financialLedger.currency })
    .from(financialLedger)
    .where(or(gte(financialLedger.createdAt, since), fromEvents.size ? inArray(financialLedger.stripePaymentIntentId, [...fromEvents]) : undefined));
  const booked = await deps.db
    .select({ bookingId: bookings.id, pi: bookings.stripePaymentIntentId, currency: bookings.currency })
    .from(bookings)
    .where(and(isNotNull(bookings.stripePaymentIntentId), or(gte(bookings.updatedAt, since), fromEvents.size ? inArray(bookings.stripePaymentIntentId, [...fromEvents]) : undefined)));
  const byPi = new Map<string, { bookingId: number; currency: string }>();
  for (const r of [...touched, ...booked]) if (r.pi && !byPi.has(r.pi)) byPi.set(r.pi, { bookingId: r.bookingId, currency: r.currency });
  report.bookingsChecked = new Set([...byPi.values()].map((v) => v.bookingId)).size;
  for (const [pi, { bookingId, currency }] of byPi) {
    const ledger = await paymentIntentBalance(deps.db, pi);
    const intent = await deps.stripe.paymentIntents.retrieve(pi, { expand: ['latest_charge'] });
    const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
    const paid = intent.status === 'succeeded';
    const stripeNet = paid ? intent.amount_received - (charge?.amount_refunded ?? 0) : 0;
    if (ledger.netMinor === stripeNet) continue;
    report.mismatches.push({
      ...classifyMismatch(ledger, stripeNet, paid),
      bookingId,
      paymentIntentId: pi,
      ledgerNetMinor: ledger.netMinor,
      stripeNetMinor: stripeNet,
      currency: currency.toUpperCase(),
    });
  }
}

/** Which way they disagree (schema/reconciliation-runs.ts lists the kinds), in words for the report. */
export function classifyMismatch(ledger: PaymentIntentBalance, stripeNet: number, paidAtStripe: boolean): Pick<ReconciliationMismatch, 'reason'> & { kind: MismatchKind } {
  if (ledger.chargedMinor === 0 && stripeNet > 0) return { kind: 'payment_missing_in_ledger', reason: 'Stripe holds a payment the ledger has no charge for' };
  if (ledger.chargedMinor > 0 && !paidAtStripe) return { kind: 'payment_missing_at_stripe', reason: 'the ledger books a charge Stripe does not show as paid' };
  if (ledger.netMinor > stripeNet) return { kind: 'ledger_above_stripe', reason: 'Stripe refunded more than the ledger shows' };
  return { kind: 'ledger_below_stripe', reason: 'the ledger shows less than Stripe holds (a refund Stripe never made?)' };
}
