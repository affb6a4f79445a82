/** Checkout Sessions: creation from validated params, and the transitions Stripe makes to them. */
import type Stripe from 'stripe';
import { invalidParam, missingParam, noSuch } from '../errors.js';
import { nowSec, rand } from '../ids.js';
import { asArray, isAbsent, parseEnum, parseMetadata, parseOptionalString, parseUrl, rejectUnknown, type Params } from '../params.js';
import { emit, type EmulatorState, type EventOf, type RequestContext } from '../state.js';
import { parseAdaptivePricing, parseExpiresAt, parseLineItems, parsePaymentIntentData, SESSION_CREATE_PARAMS } from './checkout-session-params.js';

/** The hosted payment page of a session, served by the emulator itself (Stripe's is checkout.stripe.com/c/pay/...). */
export const hostedPagePath = (sessionId: string): string => `/c/pay/${sessionId}`;

export function createSession(state: EmulatorState, p: Params, publicUrl: string): Stripe.Checkout.Session {
  rejectUnknown(p, SESSION_CREATE_PARAMS);
  if (isAbsent(p.mode)) throw missingParam('mode');
  if (p.mode !== 'payment') {
    if (p.mode === 'setup' || p.mode === 'subscription') {
      throw invalidParam(`stripe-emulator only implements mode=payment (got mode=${p.mode}).`, { param: 'mode' });
    }
    throw invalidParam('Invalid mode: must be one of payment, setup, or subscription', { param: 'mode' });
  }
  if (p.ui_mode !== undefined && p.ui_mode !== 'hosted') {
    throw invalidParam(`stripe-emulator only implements ui_mode=hosted (got ui_mode=${String(p.ui_mode)}).`, { param: 'ui_mode' });
  }
  if (!isAbsent(p.customer)) throw noSuch('customer', String(p.customer), 'customer');

  const created = nowSec();
  const { lineItems, currency, total } = parseLineItems(p);
  if (isAbsent(p.success_url)) throw missingParam('success_url');
  const successUrl = parseUrl(p.success_url, 'success_url');
  const cancelUrl = isAbsent(p.cancel_url) ? null : parseUrl(p.cancel_url, 'cancel_url');
  const customerEmail = parseOptionalString(p.customer_email, 'customer_email', 800);
  if (customerEmail !== null && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(customerEmail)) {
    throw invalidParam(`Invalid email address: ${customerEmail}`, { param: 'customer_email', code: 'email_invalid' });
  }
  const pmTypes = p.payment_method_types === undefined ? undefined : asArray(p.payment_method_types);
  const paymentIntentData = parsePaymentIntentData(p.payment_intent_data);

  const id = `cs_test_${rand(24)}`;
  const session: Stripe.Checkout.Session = {
    id,
    object: 'checkout.session',
    adaptive_pricing: parseAdaptivePricing(p.adaptive_pricing),
    after_expiration: null,
    allow_promotion_codes: null,
    allowed_payment_method_types: null,
    amount_subtotal: total,
    amount_total: total,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: parseEnum(p.billing_address_collection, 'billing_address_collection', ['auto', 'required'] as const),
    cancel_url: cancelUrl,
    client_reference_id: parseOptionalString(p.client_reference_id, 'client_reference_id', 200),
    client_secret: null,
    collected_information: null,
    consent: null,
    consent_collection: null,
    created,
    currency,
    currency_conversion: null,
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer: null,
    customer_account: null,
    customer_creation: parseEnum(p.customer_creation, 'customer_creation', ['always', 'if_required'] as const) ?? 'if_required',
    customer_details: null,
    customer_email: customerEmail,
    discounts: [],
    expires_at: parseExpiresAt(p.expires_at, created),
    integration_identifier: null,
    invoice: null,
    invoice_creation: {
      enabled: false,
      invoice_data: {
        account_tax_ids: null,
        custom_fields: null,
        description: null,
        footer: null,
        issuer: null,
        metadata: {},
        rendering_options: null,
      },
    },
    livemode: false,
    locale: parseOptionalString(p.locale, 'locale', 20) as Stripe.Checkout.Session.Locale | null,
    managed_payments: null,
    metadata: parseMetadata(p.metadata, 'metadata'),
    mode: 'payment',
    origin_context: null,
    payment_intent: null,
    payment_link: null,
    payment_method_collection: 'if_required',
    payment_method_configuration_details: null,
    payment_method_options: { card: { request_three_d_secure: 'automatic' } },
    payment_method_types: pmTypes && pmTypes.length > 0 ? pmTypes.map(String) : ['card'],
    payment_status: 'unpaid',
    permissions: null,
    phone_number_collection: { enabled: false },
    recovered_from: null,
    saved_payment_method_options: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status: 'open',
    submit_type: parseEnum(p.submit_type, 'submit_type', ['auto', 'book', 'donate', 'pay', 'subscribe'] as const),
    subscription: null,
    success_url: successUrl,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: 'hosted',
    url: `${publicUrl}${hostedPagePath(id)}`,
    wallet_options: null,
  };
  state.sessions.set(id, session);
  state.sessionExtras.set(id, { paymentIntentData, lineItems });
  return session;
}

export function expireSession(
  state: EmulatorState,
  session: Stripe.Checkout.Session,
  ctx: RequestContext | null,
): [EventOf<'checkout.session.expired'>] {
  session.status = 'expired';
  session.url = null;
  return [emit(state, 'checkout.session.expired', session, ctx)];
}

export function customerDetails(session: Stripe.Checkout.Session): Stripe.Checkout.Session.CustomerDetails {
  return {
    address: { city: null, country: 'SA', line1: null, line2: null, postal_code: null, state: null },
    business_name: null,
    email: session.customer_email ?? 'customer@example.com',
    individual_name: null,
    name: 'Test Customer',
    phone: null,
    tax_exempt: 'none',
    tax_ids: [],
  };
}
