import { describe, expect, it } from 'vitest';
import { classifyMismatch } from '../../server/services/reconciliation-ledger.js';

const ledger = (chargedMinor: number, refundedMinor = 0) => ({ chargedMinor, refundedMinor, netMinor: chargedMinor - refundedMinor });

describe('which way the ledger and Stripe disagree', () => {
  it('names a payment Stripe holds that the ledger has no charge for', () => {
    expect(classifyMismatch(ledger(0), 50_000, true).kind).toBe('payment_missing_in_ledger');
  });
  it('names a charge booked for a payment intent Stripe does not show paid', () => {
    expect(classifyMismatch(ledger(50_000), 0, false).kind).toBe('payment_missing_at_stripe');
  });
  it('names a ledger above Stripe (a refund made at Stripe whose events we lack)', () => {
    expect(classifyMismatch(ledger(50_000), 0, true).kind).toBe('ledger_above_stripe');
    expect(classifyMismatch(ledger(50_000, 10_000), 20_000, true).kind).toBe('ledger_above_stripe');
  });
  it('names a ledger below Stripe (a refund booked that Stripe never made)', () => {
    expect(classifyMismatch(ledger(50_000, 12_000), 50_000, true).kind).toBe('ledger_below_stripe');
  });
});
