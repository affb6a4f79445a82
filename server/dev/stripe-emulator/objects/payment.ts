/** Payment intents and charges as Stripe builds them for a Checkout Session in payment mode. */
import type Stripe from 'stripe';
import { clone, newId, nowSec, rand } from '../ids.js';
import { sessionExtrasOf, type EmulatorState } from '../state.js';

export type ChargeOutcome = 'succeeded' | 'pending' | 'failed';

/** A card payment, or a bank debit (sepa_debit) that settles later: Checkout's "delayed" payment methods. */
export type PaymentMethodKind = 'card' | 'bank_debit';

function buildPaymentIntent(session: Stripe.Checkout.Session, data: ReturnType<typeof sessionExtrasOf>['paymentIntentData']): Stripe.PaymentIntent {
  const id = newId('pi');
  return {
    id,
    object: 'payment_intent',
    amount: session.amount_total ?? 0,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 0,
    allowed_payment_method_types: null,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: 'automatic_async',
    client_secret: `${id}_secret_${rand(25)}`,
    confirmation_method: 'automatic',
    created: nowSec(),
    currency: session.currency ?? 'usd',
    customer: null,
    customer_account: null,
    description: data.description,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    managed_payments: null,
    metadata: clone(data.metadata),
    next_action: null,
    on_behalf_of: null,
    payment_method: null,
    payment_method_configuration_details: null,
    payment_method_options: { card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' } },
    payment_method_types: ['card'],
    payment_record: null,
    processing: null,
    receipt_email: data.receipt_email ?? session.customer_email ?? null,
    review: null,
    setup_future_usage: data.setup_future_usage,
    shipping: null,
    source: null,
    statement_descriptor: data.statement_descriptor,
    statement_descriptor_suffix: data.statement_descriptor_suffix,
    status: 'requires_payment_method',
    transfer_data: null,
    transfer_group: data.transfer_group,
  };
}

/** The session's payment intent, created when the customer first tries to pay (as Checkout does). */
export function ensurePaymentIntent(state: EmulatorState, session: Stripe.Checkout.Session): Stripe.PaymentIntent {
  const existing = typeof session.payment_intent === 'string' ? state.paymentIntents.get(session.payment_intent) : undefined;
  if (existing) return existing;
  const pi = buildPaymentIntent(session, sessionExtrasOf(state, session.id).paymentIntentData);
  state.paymentIntents.set(pi.id, pi);
  session.payment_intent = pi.id;
  return pi;
}

function cardDetails(amountAuthorized: number | null): Stripe.Charge.PaymentMethodDetails {
  return {
    card: {
      amount_authorized: amountAuthorized,
      authorization_code: null,
      brand: 'visa',
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
      country: 'US',
      electronic_commerce_indicator: null,
      exp_month: 12,
      exp_year: new Date().getUTCFullYear() + 3,
      extended_authorization: { status: 'disabled' },
      fingerprint: rand(16),
      funding: 'credit',
      incremental_authorization: { status: 'unavailable' },
      installments: null,
      last4: '4242',
      mandate: null,
      multicapture: { status: 'unavailable' },
      network: 'visa',
      network_token: { used: false },
      network_transaction_id: rand(15),
      overcapture: { maximum_amount_capturable: 0, status: 'unavailable' },
      regulated_status: 'unregulated',
      three_d_secure: null,
      transaction_link_id: null,
      wallet: null,
    },
    type: 'card',
  };
}

function bankDebitDetails(): Stripe.Charge.PaymentMethodDetails {
  return {
    sepa_debit: { bank_code: '37040044', branch_code: null, country: 'DE', fingerprint: rand(16), last4: '3000', mandate: newId('mandate') },
    type: 'sepa_debit',
  };
}

export const declinedOutcome = (method: PaymentMethodKind): Stripe.Charge.Outcome => ({
  advice_code: method === 'card' ? 'try_again_later' : null,
  network_advice_code: null,
  network_decline_code: null,
  network_status: 'declined_by_network',
  reason: method === 'card' ? 'generic_decline' : null,
  risk_level: 'normal',
  risk_score: 40,
  seller_message: 'The bank did not return any further details with this decline.',
  type: 'issuer_declined',
});

const APPROVED_OUTCOME: Stripe.Charge.Outcome = {
  advice_code: null,
  network_advice_code: null,
  network_decline_code: null,
  network_status: 'approved_by_network',
  reason: null,
  risk_level: 'normal',
  risk_score: 32,
  seller_message: 'Payment complete.',
  type: 'authorized',
};

export function buildCharge(
  pi: Stripe.PaymentIntent,
  session: Stripe.Checkout.Session,
  kind: ChargeOutcome,
  method: PaymentMethodKind,
): Stripe.Charge {
  const id = newId('ch');
  const failed = kind === 'failed';
  return {
    id,
    object: 'charge',
    amount: pi.amount,
    amount_captured: failed ? 0 : pi.amount,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: failed ? null : newId('txn'),
    billing_details: {
      address: { city: null, country: 'SA', line1: null, line2: null, postal_code: null, state: null },
      email: session.customer_details?.email ?? session.customer_email ?? 'customer@example.com',
      name: 'Test Customer',
      phone: null,
      tax_id: null,
    },
    calculated_statement_descriptor: 'FLIGHT BOOKING',
    captured: !failed,
    created: nowSec(),
    currency: pi.currency,
    customer: null,
    description: pi.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: failed ? (method === 'bank_debit' ? 'insufficient_funds' : 'card_declined') : null,
    failure_message: failed
      ? method === 'bank_debit'
        ? 'The account has insufficient funds to cover this payment.'
        : 'Your card was declined.'
      : null,
    fraud_details: {},
    livemode: false,
    metadata: clone(pi.metadata),
    on_behalf_of: null,
    outcome: failed ? declinedOutcome(method) : APPROVED_OUTCOME,
    paid: kind === 'succeeded',
    payment_intent: pi.id,
    payment_method: typeof pi.payment_method === 'string' ? pi.payment_method : null,
    payment_method_details: method === 'bank_debit' ? bankDebitDetails() : cardDetails(failed ? null : pi.amount),
    radar_options: {},
    receipt_email: pi.receipt_email,
    receipt_number: null,
    receipt_url: `https://pay.stripe.com/receipts/payment/${rand(64)}`,
    refunded: false,
    refunds: { object: 'list', data: [], has_more: false, url: `/v1/charges/${id}/refunds` },
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: pi.statement_descriptor,
    statement_descriptor_suffix: pi.statement_descriptor_suffix,
    status: kind,
    transfer_data: null,
    transfer_group: pi.transfer_group,
  };
}

/** What a declined attempt leaves on its payment intent. */
export function lastPaymentError(charge: Stripe.Charge, paymentMethodId: string, method: PaymentMethodKind): Stripe.PaymentIntent.LastPaymentError {
  const code = method === 'bank_debit' ? 'insufficient_funds' : 'card_declined';
  const details = charge.payment_method_details;
  return {
    advice_code: method === 'card' ? 'try_again_later' : undefined,
    charge: charge.id,
    code,
    decline_code: method === 'card' ? 'generic_decline' : undefined,
    doc_url: `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}`,
    message: charge.failure_message ?? undefined,
    payment_method: {
      id: paymentMethodId,
      object: 'payment_method',
      billing_details: clone(charge.billing_details),
      created: nowSec(),
      customer: null,
      livemode: false,
      metadata: {},
      type: details?.type ?? 'card',
      ...(details?.card ? { card: clone(details.card) } : {}),
      ...(details?.sepa_debit ? { sepa_debit: clone(details.sepa_debit) } : {}),
    } as Stripe.PaymentMethod,
    type: 'card_error',
  };
}
