/**
 * POST /v1/checkout/sessions params, validated the way Stripe validates them. Only mode=payment with
 * inline price_data is implemented; anything else is refused with a message that says so, never
 * silently ignored.
 */
import type Stripe from 'stripe';
import { invalidParam, missingParam, noSuch } from '../errors.js';
import { formatAmount, newId, nowSec } from '../ids.js';
import {
  asArray,
  isAbsent,
  parseCurrency,
  parseEnum,
  parseInteger,
  parseMetadata,
  parseBoolean,
  parseObject,
  parseOptionalString,
  parseString,
  rejectUnknown,
  type Params,
} from '../params.js';
import type { SessionExtras } from '../state.js';

// Stripe's accepted param names (anything else is `parameter_unknown`, like Stripe)
export const SESSION_CREATE_PARAMS = [
  'adaptive_pricing', 'after_expiration', 'allow_promotion_codes', 'allowed_payment_method_types', 'automatic_tax',
  'billing_address_collection', 'branding_settings', 'cancel_url', 'client_reference_id', 'consent_collection', 'currency',
  'custom_fields', 'custom_text', 'customer', 'customer_account', 'customer_creation', 'customer_email', 'customer_update',
  'discounts', 'excluded_payment_method_types', 'expand', 'expires_at', 'integration_identifier', 'invoice_creation',
  'line_items', 'locale', 'managed_payments', 'metadata', 'mode', 'name_collection', 'optional_items', 'origin_context',
  'payment_intent_data', 'payment_method_collection', 'payment_method_configuration', 'payment_method_data',
  'payment_method_options', 'payment_method_types', 'permissions', 'phone_number_collection', 'redirect_on_completion',
  'return_url', 'saved_payment_method_options', 'setup_intent_data', 'shipping_address_collection', 'shipping_options',
  'submit_type', 'subscription_data', 'success_url', 'tax_id_collection', 'ui_mode', 'wallet_options',
] as const;
const PAYMENT_INTENT_DATA_PARAMS = [
  'application_fee_amount', 'capture_method', 'description', 'metadata', 'on_behalf_of', 'receipt_email',
  'setup_future_usage', 'shipping', 'statement_descriptor', 'statement_descriptor_suffix', 'transfer_data', 'transfer_group',
] as const;
const LINE_ITEM_PARAMS = ['adjustable_quantity', 'dynamic_tax_rates', 'metadata', 'price', 'price_data', 'quantity', 'tax_rates'] as const;
const PRICE_DATA_PARAMS = ['currency', 'product', 'product_data', 'recurring', 'tax_behavior', 'unit_amount', 'unit_amount_decimal'] as const;
const PRODUCT_DATA_PARAMS = ['description', 'images', 'metadata', 'name', 'tax_code', 'unit_label'] as const;

/** Stripe's ceiling on one Checkout Session's total, in minor units. */
const MAX_TOTAL = 99_999_999;

export function parseLineItems(p: Params): { lineItems: Stripe.LineItem[]; currency: string; total: number } {
  const rawItems = isAbsent(p.line_items) ? undefined : asArray(p.line_items);
  if (!isAbsent(p.line_items) && !rawItems) throw invalidParam('Invalid array', { param: 'line_items' });
  if (!rawItems || rawItems.length === 0) throw missingParam('line_items');
  if (rawItems.length > 100) throw invalidParam('You may only specify up to 100 line items.', { param: 'line_items' });

  const created = nowSec();
  let currency: string | null = null;
  let total = 0;
  const lineItems = rawItems.map((rawItem, i): Stripe.LineItem => {
    const base = `line_items[${i}]`;
    const raw = parseObject(rawItem, base);
    rejectUnknown(raw, LINE_ITEM_PARAMS, base);
    if (!isAbsent(raw.price)) throw noSuch('price', String(raw.price), `${base}[price]`);
    if (isAbsent(raw.price_data)) throw missingParam(`${base}[price_data]`);
    const pd = parseObject(raw.price_data, `${base}[price_data]`);
    rejectUnknown(pd, PRICE_DATA_PARAMS, `${base}[price_data]`);
    if (pd.recurring !== undefined) {
      throw invalidParam('You specified `payment` mode but passed a recurring price.', { param: `${base}[price_data][recurring]` });
    }
    const cur = parseCurrency(pd.currency, `${base}[price_data][currency]`);
    if (currency !== null && cur !== currency) {
      throw invalidParam('All line items must have the same currency.', { param: `${base}[price_data][currency]` });
    }
    currency = cur;
    if (!isAbsent(pd.product)) throw noSuch('product', String(pd.product), `${base}[price_data][product]`);
    if (isAbsent(pd.product_data)) throw missingParam(`${base}[price_data][product_data]`);
    const prod = parseObject(pd.product_data, `${base}[price_data][product_data]`);
    rejectUnknown(prod, PRODUCT_DATA_PARAMS, `${base}[price_data][product_data]`);
    if (isAbsent(prod.name)) throw missingParam(`${base}[price_data][product_data][name]`);
    const name = parseString(prod.name, `${base}[price_data][product_data][name]`, 250);
    if (pd.unit_amount === undefined && pd.unit_amount_decimal !== undefined) {
      throw invalidParam('stripe-emulator does not implement unit_amount_decimal; send unit_amount.', {
        param: `${base}[price_data][unit_amount_decimal]`,
      });
    }
    if (isAbsent(pd.unit_amount)) throw missingParam(`${base}[price_data][unit_amount]`);
    const unitAmount = parseInteger(pd.unit_amount, `${base}[price_data][unit_amount]`, 0);
    if (isAbsent(raw.quantity)) throw missingParam(`${base}[quantity]`);
    const quantity = parseInteger(raw.quantity, `${base}[quantity]`, 0);
    if (quantity > 999_999) throw invalidParam('This value must be less than or equal to 999999.', { param: `${base}[quantity]` });
    const amount = unitAmount * quantity;
    total += amount;
    const taxBehavior = parseEnum(pd.tax_behavior, `${base}[price_data][tax_behavior]`, ['exclusive', 'inclusive', 'unspecified'] as const);
    return {
      id: newId('li'),
      object: 'item',
      adjustable_quantity: null,
      amount_discount: 0,
      amount_subtotal: amount,
      amount_tax: 0,
      amount_total: amount,
      currency: cur,
      description: name,
      metadata: parseMetadata(raw.metadata, `${base}[metadata]`),
      price: {
        id: newId('price'),
        object: 'price',
        active: false,
        billing_scheme: 'per_unit',
        created,
        currency: cur,
        custom_unit_amount: null,
        livemode: false,
        lookup_key: null,
        metadata: {},
        nickname: null,
        product: newId('prod'),
        recurring: null,
        tax_behavior: taxBehavior ?? 'unspecified',
        tiers_mode: null,
        transform_quantity: null,
        type: 'one_time',
        unit_amount: unitAmount,
        // On the wire a decimal is a string; the SDK's type is what it parses it into.
        unit_amount_decimal: String(unitAmount) as unknown as Stripe.Decimal,
      },
      quantity,
    };
  });
  if (!Number.isSafeInteger(total) || total > MAX_TOTAL) {
    throw invalidParam(`The Checkout Session's total amount due must be no more than ${formatAmount(MAX_TOTAL, currency ?? 'usd')}.`, {
      code: 'amount_too_large',
    });
  }
  return { lineItems, currency: currency ?? 'usd', total };
}

export function parsePaymentIntentData(v: unknown): SessionExtras['paymentIntentData'] {
  const d: SessionExtras['paymentIntentData'] = {
    metadata: {},
    description: null,
    receipt_email: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    setup_future_usage: null,
    transfer_group: null,
  };
  if (isAbsent(v)) return d;
  const pid = parseObject(v, 'payment_intent_data');
  rejectUnknown(pid, PAYMENT_INTENT_DATA_PARAMS, 'payment_intent_data');
  if (pid.capture_method !== undefined && pid.capture_method !== 'automatic' && pid.capture_method !== 'automatic_async') {
    throw invalidParam(`stripe-emulator does not implement payment_intent_data[capture_method]=${String(pid.capture_method)}.`, {
      param: 'payment_intent_data[capture_method]',
    });
  }
  const param = (k: string) => `payment_intent_data[${k}]`;
  d.metadata = parseMetadata(pid.metadata, param('metadata'));
  d.description = parseOptionalString(pid.description, param('description'), 1000);
  d.receipt_email = parseOptionalString(pid.receipt_email, param('receipt_email'), 800);
  d.statement_descriptor = parseOptionalString(pid.statement_descriptor, param('statement_descriptor'), 22);
  d.statement_descriptor_suffix = parseOptionalString(pid.statement_descriptor_suffix, param('statement_descriptor_suffix'), 22);
  d.setup_future_usage = parseEnum(pid.setup_future_usage, param('setup_future_usage'), ['off_session', 'on_session'] as const);
  d.transfer_group = parseOptionalString(pid.transfer_group, param('transfer_group'));
  return d;
}

/**
 * adaptive_pricing[enabled]: whether Stripe may charge in the customer's local currency instead of the
 * session's. Without it Stripe uses the account's Dashboard setting; the emulator plays an account
 * that has it on, so an integration that needs the session's own currency must say so.
 */
export function parseAdaptivePricing(v: unknown): { enabled: boolean } {
  if (isAbsent(v)) return { enabled: true };
  const ap = parseObject(v, 'adaptive_pricing');
  rejectUnknown(ap, ['enabled'], 'adaptive_pricing');
  return { enabled: isAbsent(ap.enabled) ? true : parseBoolean(ap.enabled, 'adaptive_pricing[enabled]') };
}

/** expires_at: Stripe allows 30 minutes to 24 hours after creation; the default is 24 hours. */
export function parseExpiresAt(v: unknown, created: number): number {
  if (isAbsent(v)) return created + 24 * 60 * 60;
  const expiresAt = parseInteger(v, 'expires_at');
  if (expiresAt < created + 30 * 60) {
    throw invalidParam('The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.', { param: 'expires_at' });
  }
  if (expiresAt > created + 24 * 60 * 60) {
    throw invalidParam('The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.', { param: 'expires_at' });
  }
  return expiresAt;
}
