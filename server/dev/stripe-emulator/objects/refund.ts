/** Refunds: through the API (the app's requests) and from the Dashboard, and a refund failing later. */
import type Stripe from 'stripe';
import { invalidParam, noSuch, refused, ScenarioError } from '../errors.js';
import { formatAmount, newId, nowSec } from '../ids.js';
import { isAbsent, parseEnum, parseInteger, parseMetadata, parseString, rejectUnknown, type Params } from '../params.js';
import { emit, type EmulatorState, type EventOf, type RequestContext } from '../state.js';

const REFUND_CREATE_PARAMS = [
  'amount', 'charge', 'currency', 'customer', 'expand', 'instructions_email', 'metadata', 'origin', 'payment_intent', 'reason',
  'refund_application_fee', 'reverse_transfer',
] as const;
const REFUND_REASONS = ['duplicate', 'fraudulent', 'requested_by_customer'] as const;

const idOf = (v: string | { id: string } | null): string | null => (v === null ? null : typeof v === 'string' ? v : v.id);

/** The succeeded charge a refund request points at, by payment intent or charge id. */
function refundableCharge(state: EmulatorState, piId: string | null, chId: string | null): Stripe.Charge {
  if (piId) {
    const pi = state.paymentIntents.get(piId);
    if (!pi) throw noSuch('payment_intent', piId, 'payment_intent');
    const latestId = idOf(pi.latest_charge);
    const latest = latestId ? state.charges.get(latestId) : undefined;
    if (!latest || latest.status !== 'succeeded') {
      throw refused(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, { param: 'payment_intent' });
    }
    if (chId && chId !== latest.id) throw refused(`Charge ${chId} does not belong to PaymentIntent ${pi.id}.`, { param: 'charge' });
    return latest;
  }
  const charge = chId ? state.charges.get(chId) : undefined;
  if (!chId || !charge) throw noSuch('charge', chId ?? '', 'charge');
  if (charge.status !== 'succeeded') {
    const pi = idOf(charge.payment_intent);
    throw refused(
      pi ? `This PaymentIntent (${pi}) does not have a successful charge to refund.` : `Charge ${charge.id} has not succeeded and cannot be refunded.`,
      { param: 'charge' },
    );
  }
  return charge;
}

export function createRefund(state: EmulatorState, p: Params, ctx: RequestContext | null): { refund: Stripe.Refund; events: [EventOf<'refund.created'>, EventOf<'charge.refunded'>] } {
  rejectUnknown(p, REFUND_CREATE_PARAMS);
  for (const unsupported of ['customer', 'origin', 'instructions_email', 'currency'] as const) {
    if (p[unsupported] !== undefined) {
      throw invalidParam(`stripe-emulator does not implement refunds with \`${unsupported}\`.`, { param: unsupported });
    }
  }
  const piId = isAbsent(p.payment_intent) ? null : parseString(p.payment_intent, 'payment_intent');
  const chId = isAbsent(p.charge) ? null : parseString(p.charge, 'charge');
  if (!piId && !chId) {
    throw invalidParam('One of the following params should be provided for this request: payment_intent or charge.', {
      code: 'parameter_missing',
    });
  }
  const amountParam = isAbsent(p.amount) ? null : parseInteger(p.amount, 'amount', 1);
  const reason = parseEnum(p.reason, 'reason', REFUND_REASONS);
  const metadata = parseMetadata(p.metadata, 'metadata');
  const charge = refundableCharge(state, piId, chId);

  const remaining = charge.amount_captured - charge.amount_refunded;
  if (remaining <= 0) throw refused(`Charge ${charge.id} has already been refunded.`, { code: 'charge_already_refunded' });
  const amount = amountParam ?? remaining;
  if (amount > remaining) {
    const asked = formatAmount(amount, charge.currency);
    throw refused(`Refund amount (${asked}) is greater than unrefunded amount on charge (${formatAmount(remaining, charge.currency)})`, {
      param: 'amount',
    });
  }

  const method = charge.payment_method_details?.type ?? 'card';
  const destination: Stripe.Refund.DestinationDetails =
    method === 'card'
      ? { card: { reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' }, type: 'card' }
      : { type: method };
  const refund: Stripe.Refund = {
    id: newId('re'),
    object: 'refund',
    amount,
    balance_transaction: newId('txn'),
    charge: charge.id,
    created: nowSec(),
    currency: charge.currency,
    customer: null,
    customer_account: null,
    destination_details: destination,
    metadata,
    payment_intent: charge.payment_intent,
    payment_method: charge.payment_method,
    reason,
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
  };
  state.refunds.set(refund.id, refund);
  charge.amount_refunded += amount;
  charge.refunded = charge.amount_refunded >= charge.amount_captured;
  charge.refunds?.data.unshift(refund);
  return { refund, events: [emit(state, 'refund.created', refund, ctx), emit(state, 'charge.refunded', charge, ctx)] };
}

/** The bank sends a refund back days later (closed account, lost card): refund.updated with status failed. */
export function failRefund(state: EmulatorState, refundId: string): [EventOf<'refund.updated'>] {
  const refund = state.refunds.get(refundId);
  if (!refund) throw new ScenarioError(`no such refund ${refundId}`);
  if (refund.status !== 'succeeded' && refund.status !== 'pending') {
    throw new ScenarioError(`cannot fail refund ${refundId} in status ${refund.status}`);
  }
  const previous: Partial<Stripe.Refund> = { status: refund.status };
  refund.status = 'failed';
  refund.failure_reason = 'lost_or_stolen_card';
  refund.failure_balance_transaction = newId('txn');
  const chargeId = idOf(refund.charge);
  const charge = chargeId ? state.charges.get(chargeId) : undefined;
  if (charge) {
    charge.amount_refunded -= refund.amount;
    charge.refunded = charge.amount_refunded >= charge.amount_captured && charge.amount_captured > 0;
  }
  return [emit(state, 'refund.updated', refund, null, previous)];
}
