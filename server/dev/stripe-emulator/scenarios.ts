/**
 * What a customer, a bank or the Dashboard does to a payment, in the order Stripe emits the events.
 * Each scenario changes the objects and returns the events it emitted. Used by tests directly and by
 * the hosted Checkout page and the dashboard page.
 */
import type Stripe from 'stripe';
import { ApiError, ScenarioError } from './errors.js';
import { clone, newId, nowSec } from './ids.js';
import { customerDetails, expireSession } from './objects/checkout-session.js';
import { buildCharge, declinedOutcome, ensurePaymentIntent, lastPaymentError, type PaymentMethodKind } from './objects/payment.js';
import { createRefund } from './objects/refund.js';
import { emit, type EmulatorState, type EventObject, type EventOf } from './state.js';

/** What paying by card emits, in Stripe's order. */
export type CardPaymentEvents = [EventOf<'charge.succeeded'>, EventOf<'payment_intent.succeeded'>, EventOf<'checkout.session.completed'>];

function openSession(state: EmulatorState, sessionId: string, action: string): Stripe.Checkout.Session {
  const session = state.sessions.get(sessionId);
  if (!session) throw new ScenarioError(`no such checkout session ${sessionId}`);
  if (session.status !== 'open') throw new ScenarioError(`cannot ${action} session ${sessionId} in status ${session.status}`);
  return session;
}

/**
 * The customer pays. By card: charge.succeeded, payment_intent.succeeded, checkout.session.completed.
 * By a delayed method (`async`, a bank debit): checkout.session.completed with payment_status unpaid
 * now; the money arrives later with asyncPaymentSucceeded / asyncPaymentFailed.
 */
export function completeSession(state: EmulatorState, sessionId: string, o: { async: true }): [EventOf<'checkout.session.completed'>];
export function completeSession(state: EmulatorState, sessionId: string, o?: { async?: false }): CardPaymentEvents;
export function completeSession(
  state: EmulatorState,
  sessionId: string,
  o?: { async?: boolean },
): CardPaymentEvents | [EventOf<'checkout.session.completed'>];
export function completeSession(
  state: EmulatorState,
  sessionId: string,
  o: { async?: boolean } = {},
): CardPaymentEvents | [EventOf<'checkout.session.completed'>] {
  const session = openSession(state, sessionId, 'complete');
  const method: PaymentMethodKind = o.async === true ? 'bank_debit' : 'card';
  const pi = ensurePaymentIntent(state, session);
  pi.payment_method = newId('pm');
  pi.last_payment_error = null;
  pi.payment_method_types = method === 'bank_debit' ? ['sepa_debit'] : ['card'];
  const charge = buildCharge(pi, session, method === 'bank_debit' ? 'pending' : 'succeeded', method);
  state.charges.set(charge.id, charge);
  pi.latest_charge = charge.id;
  session.customer_details = customerDetails(session);
  session.status = 'complete';
  session.url = null;
  if (method === 'bank_debit') {
    pi.status = 'processing';
    session.payment_status = 'unpaid';
    return [emit(state, 'checkout.session.completed', session, null)];
  }
  return moneyArrived(state, session, pi, charge, 'checkout.session.completed');
}

/** The charge succeeded: the payment intent and the session are paid, and Stripe says so in this order. */
function moneyArrived<T extends 'checkout.session.completed' | 'checkout.session.async_payment_succeeded'>(
  state: EmulatorState,
  session: Stripe.Checkout.Session,
  pi: Stripe.PaymentIntent,
  charge: Stripe.Charge,
  sessionEvent: T,
): [EventOf<'charge.succeeded'>, EventOf<'payment_intent.succeeded'>, EventOf<T>] {
  pi.status = 'succeeded';
  pi.amount_received = pi.amount;
  session.payment_status = 'paid';
  return [emit(state, 'charge.succeeded', charge, null), emit(state, 'payment_intent.succeeded', pi, null), emit(state, sessionEvent, session as EventObject<T>, null)];
}

function processingPaymentOf(state: EmulatorState, sessionId: string) {
  const session = state.sessions.get(sessionId);
  const pi = typeof session?.payment_intent === 'string' ? state.paymentIntents.get(session.payment_intent) : undefined;
  if (!session || session.status !== 'complete' || session.payment_status !== 'unpaid' || !pi || pi.status !== 'processing') {
    throw new ScenarioError(`session ${sessionId} has no processing delayed payment (completeSession(id, { async: true }) first)`);
  }
  const charge = typeof pi.latest_charge === 'string' ? state.charges.get(pi.latest_charge) : undefined;
  if (!charge) throw new ScenarioError(`internal: no charge for ${pi.id}`);
  return { session, pi, charge };
}

/** The delayed payment settles. */
export function asyncPaymentSucceeded(
  state: EmulatorState,
  sessionId: string,
): [EventOf<'charge.succeeded'>, EventOf<'payment_intent.succeeded'>, EventOf<'checkout.session.async_payment_succeeded'>] {
  const { session, pi, charge } = processingPaymentOf(state, sessionId);
  charge.status = 'succeeded';
  charge.paid = true;
  return moneyArrived(state, session, pi, charge, 'checkout.session.async_payment_succeeded');
}

/** The delayed payment bounces (insufficient funds). */
export function asyncPaymentFailed(
  state: EmulatorState,
  sessionId: string,
): [EventOf<'payment_intent.payment_failed'>, EventOf<'checkout.session.async_payment_failed'>] {
  const { session, pi, charge } = processingPaymentOf(state, sessionId);
  Object.assign(charge, {
    status: 'failed',
    paid: false,
    captured: false,
    amount_captured: 0,
    balance_transaction: null,
    failure_code: 'insufficient_funds',
    failure_message: 'The account has insufficient funds to cover this payment.',
    outcome: { ...declinedOutcome('bank_debit'), seller_message: 'The bank returned the decline code `insufficient_funds`.' },
  } satisfies Partial<Stripe.Charge>);
  pi.status = 'requires_payment_method';
  pi.last_payment_error = lastPaymentError(charge, String(pi.payment_method), 'bank_debit');
  pi.payment_method = null;
  return [emit(state, 'payment_intent.payment_failed', pi, null), emit(state, 'checkout.session.async_payment_failed', session, null)];
}

/** A declined card: payment_intent.payment_failed; the session stays open for another try. */
export function failPayment(state: EmulatorState, sessionId: string): [EventOf<'payment_intent.payment_failed'>] {
  const session = openSession(state, sessionId, 'fail payment for');
  const pi = ensurePaymentIntent(state, session);
  const paymentMethodId = newId('pm');
  pi.payment_method = paymentMethodId;
  const charge = buildCharge(pi, session, 'failed', 'card');
  state.charges.set(charge.id, charge);
  pi.latest_charge = charge.id;
  pi.last_payment_error = lastPaymentError(charge, paymentMethodId, 'card');
  pi.payment_method = null;
  pi.status = 'requires_payment_method';
  return [emit(state, 'payment_intent.payment_failed', pi, null)];
}

/** Stripe expiring an open session on its own (its expires_at passed). */
export function expireSessionNow(state: EmulatorState, sessionId: string): [EventOf<'checkout.session.expired'>] {
  return expireSession(state, openSession(state, sessionId, 'expire'), null);
}

/** A refund made in the Dashboard, not requested through the API: the app learns of it from webhooks only. */
export function refundFromDashboard(
  state: EmulatorState,
  paymentIntentId: string,
  amount?: number,
): [EventOf<'refund.created'>, EventOf<'charge.refunded'>] {
  const p: Record<string, string> = { payment_intent: paymentIntentId };
  if (amount !== undefined) p.amount = String(amount);
  try {
    return createRefund(state, p, null).events;
  } catch (e) {
    if (e instanceof ApiError) throw new ScenarioError(`refundFromDashboard refused: ${e.body.message}`);
    throw e;
  }
}

/** The cardholder disputes the charge with their bank: charge.dispute.created, the charge marked disputed. */
export function openDispute(state: EmulatorState, paymentIntentId: string): [EventOf<'charge.dispute.created'>] {
  const pi = state.paymentIntents.get(paymentIntentId);
  const charge = typeof pi?.latest_charge === 'string' ? state.charges.get(pi.latest_charge) : undefined;
  if (!pi || !charge || charge.status !== 'succeeded') throw new ScenarioError(`payment ${paymentIntentId} has no succeeded charge to dispute`);
  if (charge.disputed) throw new ScenarioError(`the charge of ${paymentIntentId} is already disputed`);
  const created = nowSec();
  const dispute: Stripe.Dispute = {
    id: newId('dp'),
    object: 'dispute',
    amount: charge.amount_captured - charge.amount_refunded,
    balance_transactions: [],
    charge: charge.id,
    created,
    currency: charge.currency,
    enhanced_eligibility_types: [],
    evidence: clone(EMPTY_EVIDENCE),
    evidence_details: { due_by: created + 7 * 24 * 3600, enhanced_eligibility: {}, has_evidence: false, past_due: false, submission_count: 0, submission_method: 'not_submitted' },
    intended_submission_method: null,
    is_charge_refundable: false,
    livemode: false,
    metadata: {},
    payment_intent: pi.id,
    payment_method_details: { card: { brand: 'visa', case_type: 'chargeback', network: 'visa', network_reason_code: '10.4' }, type: 'card' },
    reason: 'fraudulent',
    status: 'needs_response',
  };
  state.disputes.set(dispute.id, dispute);
  charge.disputed = true;
  return [emit(state, 'charge.dispute.created', dispute, null)];
}

const EMPTY_EVIDENCE = {
  access_activity_log: null,
  billing_address: null,
  cancellation_policy: null,
  cancellation_policy_disclosure: null,
  cancellation_rebuttal: null,
  customer_communication: null,
  customer_email_address: null,
  customer_name: null,
  customer_purchase_ip: null,
  customer_signature: null,
  duplicate_charge_documentation: null,
  duplicate_charge_explanation: null,
  duplicate_charge_id: null,
  enhanced_evidence: {},
  product_description: null,
  receipt: null,
  refund_policy: null,
  refund_policy_disclosure: null,
  refund_refusal_explanation: null,
  service_date: null,
  service_documentation: null,
  shipping_address: null,
  shipping_carrier: null,
  shipping_date: null,
  shipping_documentation: null,
  shipping_tracking_number: null,
  uncategorized_file: null,
  uncategorized_text: null,
} satisfies Stripe.Dispute.Evidence;
