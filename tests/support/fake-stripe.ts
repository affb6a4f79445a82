/**
 * In-memory fake of the slice of Stripe's HTTP API this project uses, for the REAL `stripe` SDK to
 * talk to over HTTP:
 *
 *   new Stripe(key, { host: '127.0.0.1', port: fake.port, protocol: 'http', maxNetworkRetries: 0 })
 *
 * Served: Checkout Sessions (create / retrieve / list / line_items / expire), PaymentIntents
 * (retrieve / list), Charges (retrieve / list), Refunds (create / retrieve / list) and Events
 * (retrieve / list). Objects are shaped like Stripe's (see /work/shared/fixtures/stripe), lists
 * use Stripe's list shape (so autoPagingEach / autoPagingToArray work), errors use Stripe's error
 * body, and POSTs honour `Idempotency-Key` the way Stripe does.
 *
 * Everything a customer or Stripe itself would do (paying, async settlement, declines, expiry,
 * refunds from the Dashboard, failed refunds) is driven by the test-control methods, which return
 * the events they emitted. Events are signed with the real SDK's helper and can be delivered to a
 * webhook URL, by hand (`deliver`) or automatically (`autoDeliver`).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import qs from 'qs';
import Stripe from 'stripe';

export interface FakeStripeOptions {
  webhookUrl?: string;
  webhookSecret?: string;
  autoDeliver?: boolean;
  /** api_version stamped on events. Default: the Stripe-Version the SDK sent (latest seen), else '2025-01-27.acacia'. */
  apiVersion?: string;
}

export interface FakeStripeFault {
  mode: 'error' | 'hang' | 'none';
  /** How many requests to affect; default unlimited until reset with mode 'none'. */
  times?: number;
  /** Only requests whose path starts with this (e.g. '/v1/refunds') are affected. */
  pathPrefix?: string;
  /** HTTP status for mode 'error': 500 (default) or e.g. 503. */
  status?: number;
  /**
   * Default false: the fault happens before Stripe sees the request (nothing is created, the
   * idempotency key stays unused). true: the request IS processed (objects, events, stored
   * idempotent response) and only the response is lost (error/hang) — a retry with the same
   * Idempotency-Key then gets the stored result.
   */
  after?: boolean;
}

export interface FakeStripeDelivery {
  eventId: string;
  type: string;
  url: string;
  status: number; // 0 when the request itself failed
  body: string;
  error?: string;
}

export interface FakeStripe {
  url: string; // e.g. http://127.0.0.1:54321
  port: number;
  close(): Promise<void>;
  // state (read-only views for assertions)
  sessions: Map<string, any>;
  paymentIntents: Map<string, any>;
  charges: Map<string, any>;
  refunds: Map<string, any>;
  events: any[]; // every event emitted, in order
  requests: { method: string; path: string; idempotencyKey?: string; body: any }[]; // every API request received
  /** Every webhook delivery attempted (deliver / deliverAll / autoDeliver), in order. */
  deliveries: FakeStripeDelivery[];
  /** The secret events are signed with (options.webhookSecret or a generated whsec_...). */
  webhookSecret: string;
  // test controls
  completeSession(sessionId: string, opts?: { async?: boolean }): any[]; // pays the session; returns the emitted events
  asyncPaymentSucceeded(sessionId: string): any[];
  asyncPaymentFailed(sessionId: string): any[];
  failPayment(sessionId: string): any[]; // payment_intent.payment_failed (session stays open)
  expireSessionNow(sessionId: string): any[]; // like Stripe expiring it on its own: checkout.session.expired
  refundFromDashboard(paymentIntentId: string, amount?: number): any[]; // refund not requested through our API
  failRefund(refundId: string): any[]; // refund.updated with status 'failed'
  setFault(fault: FakeStripeFault): void;
  sign(event: any, opts?: { secret?: string; timestamp?: number }): { payload: string; header: string };
  deliver(event: any, opts?: { url?: string; secret?: string; timestamp?: number }): Promise<{ status: number; body: string }>;
  deliverAll(events: any[]): Promise<{ status: number; body: string }[]>; // sequential
  /** Waits until every autoDeliver delivery queued so far (and any queued meanwhile) has finished. */
  flush(): Promise<void>;
  /** Points deliveries at a webhook URL known only after the fake started (the app's port). */
  setWebhookUrl(url: string, autoDeliver?: boolean): void;
}

const FALLBACK_API_VERSION = '2025-01-27.acacia';
const DELIVERY_TIMEOUT_MS = 30_000;
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

// ---------------------------------------------------------------------------------------------
// ids, time, errors

const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function rand(n = 24): string {
  let s = '';
  for (const b of randomBytes(n)) s += B62[b % 62];
  return s;
}
const newId = (prefix: string): string => `${prefix}_${rand(24)}`;
const nowSec = (): number => Math.floor(Date.now() / 1000);
const clone = <T>(v: T): T => structuredClone(v);

interface StripeErrorBody {
  type: string;
  message: string;
  code?: string;
  param?: string;
  doc_url?: string;
  [k: string]: unknown;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: StripeErrorBody,
    /** Whether Stripe would store this result for the idempotency key (validation failures are not stored). */
    readonly storeForIdempotency = true,
  ) {
    super(body.message);
  }
}

function withDocUrl(body: StripeErrorBody): StripeErrorBody {
  return body.code ? { ...body, doc_url: `https://stripe.com/docs/error-codes/${body.code.replace(/_/g, '-')}` } : body;
}
/** A request Stripe rejects while validating params (not stored for idempotency). */
function invalidParam(message: string, extra: { param?: string; code?: string } = {}): ApiError {
  return new ApiError(400, withDocUrl({ type: 'invalid_request_error', message, ...extra }), false);
}
/** A request Stripe accepted but refused while executing (stored for idempotency). */
function refused(message: string, extra: { param?: string; code?: string } = {}): ApiError {
  return new ApiError(400, withDocUrl({ type: 'invalid_request_error', message, ...extra }), true);
}
function missingParam(param: string): ApiError {
  return invalidParam(`Missing required param: ${param}.`, { param, code: 'parameter_missing' });
}
function noSuch(objectName: string, id: string, param: string): ApiError {
  return new ApiError(
    404,
    withDocUrl({ type: 'invalid_request_error', code: 'resource_missing', message: `No such ${objectName}: '${id}'`, param }),
    true,
  );
}

// ---------------------------------------------------------------------------------------------
// param helpers (everything arrives from qs as strings / arrays / plain objects)

type Params = Record<string, any>;

function isPlainObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asArray(v: unknown): unknown[] | undefined {
  if (Array.isArray(v)) return v;
  // qs turns sparse / very large indexed arrays into objects keyed by index
  if (isPlainObject(v) && Object.keys(v).every((k) => /^\d+$/.test(k))) {
    return Object.keys(v)
      .sort((a, b) => Number(a) - Number(b))
      .map((k) => v[k]);
  }
  return undefined;
}

function parseInteger(v: unknown, param: string, min?: number): number {
  if (typeof v !== 'string' || !/^-?\d+$/.test(v.trim())) {
    throw invalidParam(`Invalid integer: ${typeof v === 'string' ? v : JSON.stringify(v)}`, {
      param,
      code: 'parameter_invalid_integer',
    });
  }
  const n = Number.parseInt(v.trim(), 10);
  if (!Number.isSafeInteger(n)) throw invalidParam(`Invalid integer: ${v}`, { param, code: 'parameter_invalid_integer' });
  if (min !== undefined && n < min) {
    throw invalidParam(`This value must be greater than or equal to ${min}.`, { param, code: 'parameter_invalid_integer' });
  }
  return n;
}

function parseString(v: unknown, param: string, maxLength = 5000): string {
  if (typeof v !== 'string') {
    throw invalidParam(`Invalid string: ${JSON.stringify(v)}`, { param, code: 'parameter_invalid_string' });
  }
  if (v.length > maxLength) {
    throw invalidParam(`Invalid string: ${v.slice(0, 20)}...; must be at most ${maxLength} characters`, {
      param,
      code: 'parameter_invalid_string',
    });
  }
  return v;
}

function parseOptionalString(v: unknown, param: string, maxLength?: number): string | null {
  if (v === undefined || v === '') return null;
  return parseString(v, param, maxLength);
}

function parseMetadata(v: unknown, param: string): Record<string, string> {
  if (v === undefined || v === '') return {};
  if (!isPlainObject(v)) throw invalidParam(`Invalid object`, { param, code: 'parameter_invalid_empty' });
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') {
      throw invalidParam(`Invalid value type: ${JSON.stringify(value)} must be a string`, { param: `${param}[${k}]` });
    }
    if (k.length > 40) throw invalidParam(`Metadata keys can have up to 40 characters. The key '${k}' is too long.`, { param });
    if (value.length > 500) {
      throw invalidParam(`Metadata values can have up to 500 characters, but you passed in a value that is ${value.length} characters.`, {
        param: `${param}[${k}]`,
      });
    }
    if (value !== '') out[k] = value; // '' unsets a key
  }
  if (Object.keys(out).length > 50) throw invalidParam('You can only specify up to 50 metadata keys.', { param });
  return out;
}

function parseEnum<T extends string>(v: unknown, param: string, allowed: readonly T[]): T | null {
  if (v === undefined || v === '') return null;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw invalidParam(`Invalid ${param}: must be one of ${allowed.join(', ')}`, { param });
  }
  return v as T;
}

function parseUrl(v: unknown, param: string): string {
  const s = parseString(v, param, 5000);
  let ok = false;
  try {
    const u = new URL(s);
    ok = u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    ok = false;
  }
  if (!ok) throw invalidParam('Not a valid URL', { param, code: 'url_invalid' });
  return s;
}

function parseCurrency(v: unknown, param: string): string {
  if (v === undefined || v === '') throw missingParam(param);
  if (typeof v !== 'string' || !/^[a-zA-Z]{3}$/.test(v)) {
    throw invalidParam(`Invalid currency: ${String(v)}. Stripe currently supports these currencies: usd, aed, eur, gbp, sar, ...`, {
      param,
    });
  }
  return v.toLowerCase();
}

function rejectUnknown(p: Params, allowed: readonly string[], prefix = ''): void {
  for (const k of Object.keys(p)) {
    if (!allowed.includes(k)) {
      const param = prefix ? `${prefix}[${k}]` : k;
      throw invalidParam(`Received unknown parameter: ${param}`, { param, code: 'parameter_unknown' });
    }
  }
}

interface CreatedFilter {
  gt?: number;
  gte?: number;
  lt?: number;
  lte?: number;
}
function parseCreatedFilter(v: unknown, param = 'created'): CreatedFilter | null {
  if (v === undefined || v === '') return null;
  if (typeof v === 'string') {
    const n = parseInteger(v, param);
    return { gte: n, lte: n };
  }
  if (!isPlainObject(v)) throw invalidParam('Invalid timestamp', { param });
  rejectUnknown(v, ['gt', 'gte', 'lt', 'lte'], param);
  const f: CreatedFilter = {};
  for (const k of ['gt', 'gte', 'lt', 'lte'] as const) if (v[k] !== undefined) f[k] = parseInteger(v[k], `${param}[${k}]`);
  return f;
}
function matchesCreated(created: number, f: CreatedFilter | null): boolean {
  if (!f) return true;
  if (f.gt !== undefined && !(created > f.gt)) return false;
  if (f.gte !== undefined && !(created >= f.gte)) return false;
  if (f.lt !== undefined && !(created < f.lt)) return false;
  if (f.lte !== undefined && !(created <= f.lte)) return false;
  return true;
}

const LIST_PARAMS = ['limit', 'starting_after', 'ending_before', 'expand', 'created'];

/** Stripe cursor pagination over items already ordered newest first. */
function paginate(items: any[], p: Params, url: string, objectName: string): any {
  const limit = p.limit === undefined || p.limit === '' ? 10 : parseInteger(p.limit, 'limit', 1);
  if (limit > 100) throw invalidParam('This value must be less than or equal to 100.', { param: 'limit', code: 'parameter_invalid_integer' });
  if (p.starting_after !== undefined && p.ending_before !== undefined) {
    throw invalidParam('You may only specify one of these parameters: ending_before, starting_after.', { param: 'ending_before' });
  }
  let rest = items;
  let data: any[];
  let hasMore: boolean;
  if (p.ending_before !== undefined && p.ending_before !== '') {
    const id = String(p.ending_before);
    const idx = items.findIndex((o) => o.id === id);
    if (idx < 0) throw noSuch(objectName, id, 'ending_before');
    rest = items.slice(0, idx);
    data = rest.slice(Math.max(0, rest.length - limit));
    hasMore = rest.length > limit;
  } else {
    if (p.starting_after !== undefined && p.starting_after !== '') {
      const id = String(p.starting_after);
      const idx = items.findIndex((o) => o.id === id);
      if (idx < 0) throw noSuch(objectName, id, 'starting_after');
      rest = items.slice(idx + 1);
    }
    data = rest.slice(0, limit);
    hasMore = rest.length > limit;
  }
  return { object: 'list', data, has_more: hasMore, url };
}

const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);
function formatAmount(amount: number, currency: string): string {
  const major = ZERO_DECIMAL.has(currency) ? String(amount) : (amount / 100).toFixed(2);
  return currency === 'usd' ? `$${major}` : `${currency.toUpperCase()} ${major}`;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

// ---------------------------------------------------------------------------------------------
// Stripe's accepted param names (anything else is `parameter_unknown`, like Stripe)

const SESSION_CREATE_PARAMS = [
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
const REFUND_CREATE_PARAMS = [
  'amount', 'charge', 'currency', 'customer', 'expand', 'instructions_email', 'metadata', 'origin', 'payment_intent', 'reason',
  'refund_application_fee', 'reverse_transfer',
] as const;
const REFUND_REASONS = ['duplicate', 'fraudulent', 'requested_by_customer'] as const;

// ---------------------------------------------------------------------------------------------

interface RequestContext {
  requestId: string;
  idempotencyKey: string | null;
  apiVersion: string | null;
}

interface SessionExtras {
  paymentIntentData: {
    metadata: Record<string, string>;
    description: string | null;
    receipt_email: string | null;
    statement_descriptor: string | null;
    statement_descriptor_suffix: string | null;
    setup_future_usage: string | null;
    transfer_group: string | null;
  };
  lineItems: any[];
}

interface StoredIdempotentResult {
  method: string;
  path: string;
  paramsKey: string;
  status: number;
  body: unknown;
  requestId: string;
}

type ActiveFault = Required<Pick<FakeStripeFault, 'mode'>> & Omit<FakeStripeFault, 'mode'> & { remaining: number | null };

export async function startFakeStripe(options: FakeStripeOptions = {}): Promise<FakeStripe> {
  const opts: FakeStripeOptions = { ...options };
  const sessions = new Map<string, any>();
  const paymentIntents = new Map<string, any>();
  const charges = new Map<string, any>();
  const refunds = new Map<string, any>();
  const events: any[] = [];
  const eventsById = new Map<string, any>();
  const requests: FakeStripe['requests'] = [];
  const deliveries: FakeStripeDelivery[] = [];
  const sessionExtras = new Map<string, SessionExtras>();
  const idempotency = new Map<string, StoredIdempotentResult>();
  const idempotencyInProgress = new Set<string>();
  const webhookSecret = opts.webhookSecret ?? `whsec_${rand(32)}`;

  let lastApiVersion: string | null = null;
  let fault: ActiveFault | null = null;
  let closed = false;

  // ---------------------------------------------------------------- object builders

  function buildPaymentIntent(session: any, extras: SessionExtras): any {
    const id = newId('pi');
    const d = extras.paymentIntentData;
    return {
      id,
      object: 'payment_intent',
      amount: session.amount_total,
      amount_capturable: 0,
      amount_details: { tip: {} },
      amount_received: 0,
      application: null,
      application_fee_amount: null,
      automatic_payment_methods: null,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: 'automatic_async',
      client_secret: `${id}_secret_${rand(25)}`,
      confirmation_method: 'automatic',
      created: nowSec(),
      currency: session.currency,
      customer: null,
      customer_account: null,
      description: d.description,
      excluded_payment_method_types: null,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      managed_payments: null,
      metadata: clone(d.metadata),
      next_action: null,
      on_behalf_of: null,
      payment_method: null,
      payment_method_configuration_details: null,
      payment_method_options: { card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' } },
      payment_method_types: ['card'],
      payment_record: null,
      processing: null,
      receipt_email: d.receipt_email ?? session.customer_email ?? null,
      review: null,
      setup_future_usage: d.setup_future_usage,
      shipping: null,
      source: null,
      statement_descriptor: d.statement_descriptor,
      statement_descriptor_suffix: d.statement_descriptor_suffix,
      status: 'requires_payment_method',
      transfer_data: null,
      transfer_group: d.transfer_group,
    };
  }

  function cardDetails(): any {
    return {
      card: {
        amount_authorized: null,
        authorization_code: null,
        brand: 'visa',
        checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
        country: 'US',
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
        wallet: null,
      },
      type: 'card',
    };
  }

  function bankDebitDetails(): any {
    return {
      sepa_debit: { bank_code: '37040044', branch_code: null, country: 'DE', fingerprint: rand(16), last4: '3000', mandate: newId('mandate') },
      type: 'sepa_debit',
    };
  }

  function buildCharge(pi: any, session: any, kind: 'succeeded' | 'pending' | 'failed', asyncMethod: boolean): any {
    const id = newId('ch');
    const paid = kind === 'succeeded';
    const details = asyncMethod ? bankDebitDetails() : cardDetails();
    if (details.card) details.card.amount_authorized = kind === 'failed' ? null : pi.amount;
    return {
      id,
      object: 'charge',
      amount: pi.amount,
      amount_captured: kind === 'failed' ? 0 : pi.amount,
      amount_refunded: 0,
      application: null,
      application_fee: null,
      application_fee_amount: null,
      balance_transaction: kind === 'failed' ? null : newId('txn'),
      billing_details: {
        address: { city: null, country: 'SA', line1: null, line2: null, postal_code: null, state: null },
        email: session.customer_details?.email ?? session.customer_email ?? 'customer@example.com',
        name: 'Test Customer',
        phone: null,
        tax_id: null,
      },
      calculated_statement_descriptor: 'FLIGHT BOOKING',
      captured: kind !== 'failed',
      created: nowSec(),
      currency: pi.currency,
      customer: null,
      description: pi.description,
      disputed: false,
      failure_balance_transaction: null,
      failure_code: kind === 'failed' ? (asyncMethod ? 'insufficient_funds' : 'card_declined') : null,
      failure_message:
        kind === 'failed' ? (asyncMethod ? 'The account has insufficient funds to cover this payment.' : 'Your card was declined.') : null,
      fraud_details: {},
      livemode: false,
      metadata: clone(pi.metadata),
      on_behalf_of: null,
      outcome:
        kind === 'failed'
          ? {
              advice_code: asyncMethod ? null : 'try_again_later',
              network_advice_code: null,
              network_decline_code: null,
              network_status: 'declined_by_network',
              reason: asyncMethod ? null : 'generic_decline',
              risk_level: 'normal',
              risk_score: 40,
              seller_message: 'The bank did not return any further details with this decline.',
              type: 'issuer_declined',
            }
          : {
              advice_code: null,
              network_advice_code: null,
              network_decline_code: null,
              network_status: 'approved_by_network',
              reason: null,
              risk_level: 'normal',
              risk_score: 32,
              seller_message: 'Payment complete.',
              type: 'authorized',
            },
      paid,
      payment_intent: pi.id,
      payment_method: pi.payment_method,
      payment_method_details: details,
      radar_options: {},
      receipt_email: pi.receipt_email,
      receipt_number: null,
      receipt_url: `https://pay.stripe.com/receipts/payment/${rand(64)}`,
      refunded: false,
      refunds: { object: 'list', data: [], has_more: false, total_count: 0, url: `/v1/charges/${id}/refunds` },
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

  // ---------------------------------------------------------------- events & delivery

  let deliveryChain: Promise<void> = Promise.resolve();
  let pendingDeliveries = 0;
  const inFlightDeliveries = new Set<AbortController>();

  function emit(type: string, object: any, ctx: RequestContext | null, previousAttributes?: Record<string, unknown>): any {
    const event: any = {
      id: newId('evt'),
      object: 'event',
      api_version: opts.apiVersion ?? ctx?.apiVersion ?? lastApiVersion ?? FALLBACK_API_VERSION,
      created: nowSec(),
      data: previousAttributes ? { object: clone(object), previous_attributes: clone(previousAttributes) } : { object: clone(object) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: ctx?.requestId ?? null, idempotency_key: ctx?.idempotencyKey ?? null },
      type,
    };
    events.push(event);
    eventsById.set(event.id, event);
    if (opts.autoDeliver && opts.webhookUrl) {
      pendingDeliveries++;
      deliveryChain = deliveryChain.then(async () => {
        try {
          if (!closed) await deliver(event).catch(() => undefined); // failures are recorded in `deliveries`
        } finally {
          pendingDeliveries--;
        }
      });
    }
    return event;
  }

  function sign(event: any, o: { secret?: string; timestamp?: number } = {}): { payload: string; header: string } {
    // Stripe sends pretty-printed JSON: a receiver that re-serializes the parsed body instead of
    // verifying the raw bytes will fail verification, exactly as it would in production.
    const payload = typeof event === 'string' ? event : JSON.stringify(event, null, 2);
    const header = Stripe.webhooks.generateTestHeaderString({
      payload,
      secret: o.secret ?? webhookSecret,
      ...(o.timestamp !== undefined ? { timestamp: o.timestamp } : {}),
    });
    return { payload, header };
  }

  async function deliver(
    event: any,
    o: { url?: string; secret?: string; timestamp?: number } = {},
  ): Promise<{ status: number; body: string }> {
    const url = o.url ?? opts.webhookUrl;
    if (!url) throw new Error('fake-stripe: deliver() needs opts.url or a webhookUrl option');
    const signOpts: { secret?: string; timestamp?: number } = {};
    if (o.secret !== undefined) signOpts.secret = o.secret;
    if (o.timestamp !== undefined) signOpts.timestamp = o.timestamp;
    const { payload, header } = sign(event, signOpts);
    const record: FakeStripeDelivery = { eventId: event?.id ?? '', type: event?.type ?? '', url, status: 0, body: '' };
    deliveries.push(record);
    try {
      const res = await postWebhook(url, payload, header);
      record.status = res.status;
      record.body = res.body;
      return res;
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  function postWebhook(url: string, payload: string, signature: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const mod = u.protocol === 'https:' ? https : http;
      const ac = new AbortController();
      inFlightDeliveries.add(ac);
      const done = () => inFlightDeliveries.delete(ac);
      const req = mod.request(
        u,
        {
          method: 'POST',
          agent: false,
          signal: ac.signal,
          timeout: DELIVERY_TIMEOUT_MS,
          headers: {
            'Content-Type': 'application/json; charset=utf-8',
            'Content-Length': Buffer.byteLength(payload),
            'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
            'Cache-Control': 'no-cache',
            Accept: '*/*; q=0.5, application/xml',
            'Stripe-Signature': signature,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            done();
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', (e) => {
            done();
            reject(e);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`webhook delivery timed out after ${DELIVERY_TIMEOUT_MS}ms`)));
      req.on('error', (e) => {
        done();
        reject(e);
      });
      req.end(payload);
    });
  }

  async function deliverAll(list: any[]): Promise<{ status: number; body: string }[]> {
    const out: { status: number; body: string }[] = [];
    for (const e of list) out.push(await deliver(e));
    return out;
  }

  async function flush(): Promise<void> {
    while (pendingDeliveries > 0) await deliveryChain;
  }

  // ---------------------------------------------------------------- domain operations

  function getSessionOrThrow(id: string): any {
    const s = sessions.get(id);
    if (!s) throw new Error(`fake-stripe: no such checkout session ${id}`);
    return s;
  }

  function extrasOf(sessionId: string): SessionExtras {
    const e = sessionExtras.get(sessionId);
    if (!e) throw new Error(`fake-stripe: internal: no extras for ${sessionId}`);
    return e;
  }

  function createSession(p: Params): any {
    rejectUnknown(p, SESSION_CREATE_PARAMS);
    if (p.mode === undefined || p.mode === '') throw missingParam('mode');
    if (p.mode !== 'payment') {
      if (p.mode === 'setup' || p.mode === 'subscription') {
        throw invalidParam(`fake-stripe only implements mode=payment (got mode=${p.mode}).`, { param: 'mode' });
      }
      throw invalidParam('Invalid mode: must be one of payment, setup, or subscription', { param: 'mode' });
    }
    if (p.ui_mode !== undefined && p.ui_mode !== 'hosted') {
      throw invalidParam(`fake-stripe only implements ui_mode=hosted (got ui_mode=${String(p.ui_mode)}).`, { param: 'ui_mode' });
    }
    if (p.customer !== undefined && p.customer !== '') throw noSuch('customer', String(p.customer), 'customer');

    const rawItems = p.line_items === undefined || p.line_items === '' ? undefined : asArray(p.line_items);
    if (p.line_items !== undefined && p.line_items !== '' && !rawItems) throw invalidParam('Invalid array', { param: 'line_items' });
    if (!rawItems || rawItems.length === 0) throw missingParam('line_items');
    if (rawItems.length > 100) throw invalidParam('You may only specify up to 100 line items.', { param: 'line_items' });

    const created = nowSec();
    let currency: string | null = null;
    let total = 0;
    const lineItems: any[] = [];
    rawItems.forEach((raw, i) => {
      const base = `line_items[${i}]`;
      if (!isPlainObject(raw)) throw invalidParam('Invalid object', { param: base });
      rejectUnknown(raw, LINE_ITEM_PARAMS, base);
      if (raw.price !== undefined && raw.price !== '') throw noSuch('price', String(raw.price), `${base}[price]`);
      const pd = raw.price_data;
      if (pd === undefined || pd === '') throw missingParam(`${base}[price_data]`);
      if (!isPlainObject(pd)) throw invalidParam('Invalid object', { param: `${base}[price_data]` });
      rejectUnknown(pd, PRICE_DATA_PARAMS, `${base}[price_data]`);
      if (pd.recurring !== undefined) {
        throw invalidParam('You specified `payment` mode but passed a recurring price.', { param: `${base}[price_data][recurring]` });
      }
      const cur = parseCurrency(pd.currency, `${base}[price_data][currency]`);
      if (currency !== null && cur !== currency) {
        throw invalidParam('All line items must have the same currency.', { param: `${base}[price_data][currency]` });
      }
      currency = cur;
      if (pd.product !== undefined && pd.product !== '') throw noSuch('product', String(pd.product), `${base}[price_data][product]`);
      const prod = pd.product_data;
      if (prod === undefined || prod === '') throw missingParam(`${base}[price_data][product_data]`);
      if (!isPlainObject(prod)) throw invalidParam('Invalid object', { param: `${base}[price_data][product_data]` });
      rejectUnknown(prod, PRODUCT_DATA_PARAMS, `${base}[price_data][product_data]`);
      if (prod.name === undefined || prod.name === '') throw missingParam(`${base}[price_data][product_data][name]`);
      const name = parseString(prod.name, `${base}[price_data][product_data][name]`, 250);
      if (pd.unit_amount === undefined && pd.unit_amount_decimal !== undefined) {
        throw invalidParam('fake-stripe does not implement unit_amount_decimal; send unit_amount.', {
          param: `${base}[price_data][unit_amount_decimal]`,
        });
      }
      if (pd.unit_amount === undefined || pd.unit_amount === '') throw missingParam(`${base}[price_data][unit_amount]`);
      const unitAmount = parseInteger(pd.unit_amount, `${base}[price_data][unit_amount]`, 0);
      if (raw.quantity === undefined || raw.quantity === '') throw missingParam(`${base}[quantity]`);
      const quantity = parseInteger(raw.quantity, `${base}[quantity]`, 0);
      if (quantity > 999_999) throw invalidParam('This value must be less than or equal to 999999.', { param: `${base}[quantity]` });
      const amount = unitAmount * quantity;
      total += amount;
      lineItems.push({
        id: newId('li'),
        object: 'item',
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
          tax_behavior: parseEnum(pd.tax_behavior, `${base}[price_data][tax_behavior]`, ['exclusive', 'inclusive', 'unspecified']) ?? 'unspecified',
          tiers_mode: null,
          transform_quantity: null,
          type: 'one_time',
          unit_amount: unitAmount,
          unit_amount_decimal: String(unitAmount),
        },
        quantity,
      });
    });
    if (!Number.isSafeInteger(total) || total > 99_999_999) {
      throw invalidParam(`The Checkout Session's total amount due must be no more than ${formatAmount(99_999_999, currency ?? 'usd')}.`, {
        code: 'amount_too_large',
      });
    }

    if (p.success_url === undefined || p.success_url === '') throw missingParam('success_url');
    const successUrl = parseUrl(p.success_url, 'success_url');
    const cancelUrl = p.cancel_url === undefined || p.cancel_url === '' ? null : parseUrl(p.cancel_url, 'cancel_url');
    const clientReferenceId = parseOptionalString(p.client_reference_id, 'client_reference_id', 200);
    const customerEmail = parseOptionalString(p.customer_email, 'customer_email', 800);
    if (customerEmail !== null && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(customerEmail)) {
      throw invalidParam(`Invalid email address: ${customerEmail}`, { param: 'customer_email', code: 'email_invalid' });
    }
    let expiresAt = created + 24 * 60 * 60;
    if (p.expires_at !== undefined && p.expires_at !== '') {
      expiresAt = parseInteger(p.expires_at, 'expires_at');
      if (expiresAt < created + 30 * 60) {
        throw invalidParam('The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.', {
          param: 'expires_at',
        });
      }
      if (expiresAt > created + 24 * 60 * 60) {
        throw invalidParam('The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.', {
          param: 'expires_at',
        });
      }
    }
    const metadata = parseMetadata(p.metadata, 'metadata');
    const locale = parseOptionalString(p.locale, 'locale', 20);
    const submitType = parseEnum(p.submit_type, 'submit_type', ['auto', 'book', 'donate', 'pay', 'subscribe']);
    const billingAddressCollection = parseEnum(p.billing_address_collection, 'billing_address_collection', ['auto', 'required']);
    const customerCreation = parseEnum(p.customer_creation, 'customer_creation', ['always', 'if_required']);
    const pmTypes = p.payment_method_types === undefined ? undefined : asArray(p.payment_method_types);

    const pid = p.payment_intent_data;
    const extras: SessionExtras = {
      paymentIntentData: {
        metadata: {},
        description: null,
        receipt_email: null,
        statement_descriptor: null,
        statement_descriptor_suffix: null,
        setup_future_usage: null,
        transfer_group: null,
      },
      lineItems,
    };
    if (pid !== undefined && pid !== '') {
      if (!isPlainObject(pid)) throw invalidParam('Invalid object', { param: 'payment_intent_data' });
      rejectUnknown(pid, PAYMENT_INTENT_DATA_PARAMS, 'payment_intent_data');
      if (pid.capture_method !== undefined && pid.capture_method !== 'automatic' && pid.capture_method !== 'automatic_async') {
        throw invalidParam(`fake-stripe does not implement payment_intent_data[capture_method]=${String(pid.capture_method)}.`, {
          param: 'payment_intent_data[capture_method]',
        });
      }
      const d = extras.paymentIntentData;
      d.metadata = parseMetadata(pid.metadata, 'payment_intent_data[metadata]');
      d.description = parseOptionalString(pid.description, 'payment_intent_data[description]', 1000);
      d.receipt_email = parseOptionalString(pid.receipt_email, 'payment_intent_data[receipt_email]', 800);
      d.statement_descriptor = parseOptionalString(pid.statement_descriptor, 'payment_intent_data[statement_descriptor]', 22);
      d.statement_descriptor_suffix = parseOptionalString(
        pid.statement_descriptor_suffix,
        'payment_intent_data[statement_descriptor_suffix]',
        22,
      );
      d.setup_future_usage = parseEnum(pid.setup_future_usage, 'payment_intent_data[setup_future_usage]', ['off_session', 'on_session']);
      d.transfer_group = parseOptionalString(pid.transfer_group, 'payment_intent_data[transfer_group]');
    }

    const id = `cs_test_${rand(24)}`;
    const session = {
      id,
      object: 'checkout.session',
      adaptive_pricing: { enabled: false },
      after_expiration: null,
      allow_promotion_codes: null,
      amount_subtotal: total,
      amount_total: total,
      automatic_tax: { enabled: false, liability: null, provider: null, status: null },
      billing_address_collection: billingAddressCollection,
      cancel_url: cancelUrl,
      client_reference_id: clientReferenceId,
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
      customer_creation: customerCreation ?? 'if_required',
      customer_details: null as any,
      customer_email: customerEmail,
      discounts: [],
      expires_at: expiresAt,
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
      locale,
      managed_payments: null,
      metadata,
      mode: 'payment',
      origin_context: null,
      payment_intent: null as string | null,
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
      submit_type: submitType,
      subscription: null,
      success_url: successUrl,
      total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
      ui_mode: 'hosted',
      url: `https://checkout.stripe.com/c/pay/${id}` as string | null,
      wallet_options: null,
    };
    sessions.set(id, session);
    sessionExtras.set(id, extras);
    return session;
  }

  function expireSession(session: any, ctx: RequestContext | null): any[] {
    session.status = 'expired';
    session.url = null;
    return [emit('checkout.session.expired', session, ctx)];
  }

  function ensurePaymentIntent(session: any): any {
    if (session.payment_intent) {
      const existing = paymentIntents.get(session.payment_intent);
      if (existing) return existing;
    }
    const pi = buildPaymentIntent(session, extrasOf(session.id));
    paymentIntents.set(pi.id, pi);
    session.payment_intent = pi.id;
    return pi;
  }

  function customerDetails(session: any): any {
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

  function completeSession(sessionId: string, o: { async?: boolean } = {}): any[] {
    const session = getSessionOrThrow(sessionId);
    if (session.status !== 'open') throw new Error(`fake-stripe: cannot complete session ${sessionId} in status ${session.status}`);
    const asyncMethod = o.async === true;
    const pi = ensurePaymentIntent(session);
    pi.payment_method = newId('pm');
    pi.last_payment_error = null;
    pi.payment_method_types = asyncMethod ? ['sepa_debit'] : ['card'];
    const charge = buildCharge(pi, session, asyncMethod ? 'pending' : 'succeeded', asyncMethod);
    charges.set(charge.id, charge);
    pi.latest_charge = charge.id;
    session.customer_details = customerDetails(session);
    session.status = 'complete';
    session.url = null;
    if (asyncMethod) {
      pi.status = 'processing';
      pi.processing = null;
      session.payment_status = 'unpaid';
      return [emit('checkout.session.completed', session, null)];
    }
    pi.status = 'succeeded';
    pi.amount_received = pi.amount;
    session.payment_status = 'paid';
    return [
      emit('charge.succeeded', charge, null),
      emit('payment_intent.succeeded', pi, null),
      emit('checkout.session.completed', session, null),
    ];
  }

  function processingPaymentOf(sessionId: string): { session: any; pi: any; charge: any } {
    const session = getSessionOrThrow(sessionId);
    const pi = session.payment_intent ? paymentIntents.get(session.payment_intent) : undefined;
    if (session.status !== 'complete' || session.payment_status !== 'unpaid' || !pi || pi.status !== 'processing') {
      throw new Error(`fake-stripe: session ${sessionId} has no processing async payment (use completeSession(id, { async: true }) first)`);
    }
    const charge = charges.get(pi.latest_charge);
    if (!charge) throw new Error(`fake-stripe: internal: no charge for ${pi.id}`);
    return { session, pi, charge };
  }

  function asyncPaymentSucceeded(sessionId: string): any[] {
    const { session, pi, charge } = processingPaymentOf(sessionId);
    charge.status = 'succeeded';
    charge.paid = true;
    pi.status = 'succeeded';
    pi.amount_received = pi.amount;
    session.payment_status = 'paid';
    return [
      emit('charge.succeeded', charge, null),
      emit('payment_intent.succeeded', pi, null),
      emit('checkout.session.async_payment_succeeded', session, null),
    ];
  }

  function lastPaymentError(charge: any, pi: any, asyncMethod: boolean): any {
    return {
      advice_code: asyncMethod ? null : 'try_again_later',
      charge: charge.id,
      code: asyncMethod ? 'insufficient_funds' : 'card_declined',
      decline_code: asyncMethod ? null : 'generic_decline',
      doc_url: `https://stripe.com/docs/error-codes/${asyncMethod ? 'insufficient-funds' : 'card-declined'}`,
      message: charge.failure_message,
      network_advice_code: null,
      network_decline_code: null,
      payment_method: {
        id: pi.payment_method,
        object: 'payment_method',
        billing_details: clone(charge.billing_details),
        created: nowSec(),
        customer: null,
        livemode: false,
        metadata: {},
        type: charge.payment_method_details.type,
        [charge.payment_method_details.type]: clone(charge.payment_method_details[charge.payment_method_details.type]),
      },
      type: 'card_error',
    };
  }

  function asyncPaymentFailed(sessionId: string): any[] {
    const { session, pi, charge } = processingPaymentOf(sessionId);
    charge.status = 'failed';
    charge.paid = false;
    charge.captured = false;
    charge.amount_captured = 0;
    charge.balance_transaction = null;
    charge.failure_code = 'insufficient_funds';
    charge.failure_message = 'The account has insufficient funds to cover this payment.';
    charge.outcome = { ...charge.outcome, network_status: 'declined_by_network', seller_message: 'The bank returned the decline code `insufficient_funds`.', type: 'issuer_declined' };
    pi.status = 'requires_payment_method';
    pi.last_payment_error = lastPaymentError(charge, pi, true);
    pi.payment_method = null;
    return [emit('payment_intent.payment_failed', pi, null), emit('checkout.session.async_payment_failed', session, null)];
  }

  function failPayment(sessionId: string): any[] {
    const session = getSessionOrThrow(sessionId);
    if (session.status !== 'open') throw new Error(`fake-stripe: cannot fail payment for session ${sessionId} in status ${session.status}`);
    const pi = ensurePaymentIntent(session);
    pi.payment_method = newId('pm');
    const charge = buildCharge(pi, session, 'failed', false);
    charges.set(charge.id, charge);
    pi.latest_charge = charge.id;
    pi.last_payment_error = lastPaymentError(charge, pi, false);
    pi.payment_method = null;
    pi.status = 'requires_payment_method';
    return [emit('payment_intent.payment_failed', pi, null)];
  }

  function expireSessionNow(sessionId: string): any[] {
    const session = getSessionOrThrow(sessionId);
    if (session.status !== 'open') throw new Error(`fake-stripe: cannot expire session ${sessionId} in status ${session.status}`);
    return expireSession(session, null);
  }

  function createRefund(p: Params, ctx: RequestContext | null): { refund: any; events: any[] } {
    rejectUnknown(p, REFUND_CREATE_PARAMS);
    for (const unsupported of ['customer', 'origin', 'instructions_email', 'currency'] as const) {
      if (p[unsupported] !== undefined) {
        throw invalidParam(`fake-stripe does not implement refunds with \`${unsupported}\`.`, { param: unsupported });
      }
    }
    const piId = p.payment_intent === undefined || p.payment_intent === '' ? null : parseString(p.payment_intent, 'payment_intent');
    const chId = p.charge === undefined || p.charge === '' ? null : parseString(p.charge, 'charge');
    if (!piId && !chId) {
      throw invalidParam('One of the following params should be provided for this request: payment_intent or charge.', {
        code: 'parameter_missing',
      });
    }
    const amountParam = p.amount === undefined || p.amount === '' ? null : parseInteger(p.amount, 'amount', 1);
    const reason = parseEnum(p.reason, 'reason', REFUND_REASONS);
    const metadata = parseMetadata(p.metadata, 'metadata');

    let charge: any;
    let pi: any;
    if (piId) {
      pi = paymentIntents.get(piId);
      if (!pi) throw noSuch('payment_intent', piId, 'payment_intent');
      const latest = pi.latest_charge ? charges.get(pi.latest_charge) : undefined;
      if (!latest || latest.status !== 'succeeded') {
        throw refused(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, { param: 'payment_intent' });
      }
      if (chId && chId !== latest.id) throw refused(`Charge ${chId} does not belong to PaymentIntent ${pi.id}.`, { param: 'charge' });
      charge = latest;
    } else if (chId) {
      charge = charges.get(chId);
      if (!charge) throw noSuch('charge', chId, 'charge');
      pi = charge.payment_intent ? paymentIntents.get(charge.payment_intent) : undefined;
      if (charge.status !== 'succeeded') {
        throw refused(
          pi
            ? `This PaymentIntent (${pi.id}) does not have a successful charge to refund.`
            : `Charge ${charge.id} has not succeeded and cannot be refunded.`,
          { param: 'charge' },
        );
      }
    }

    const remaining = charge.amount_captured - charge.amount_refunded;
    if (remaining <= 0) throw refused(`Charge ${charge.id} has already been refunded.`, { code: 'charge_already_refunded' });
    const amount = amountParam ?? remaining;
    if (amount > remaining) {
      throw refused(
        `Refund amount (${formatAmount(amount, charge.currency)}) is greater than unrefunded amount on charge (${formatAmount(
          remaining,
          charge.currency,
        )})`,
        { param: 'amount' },
      );
    }

    const refund = {
      id: newId('re'),
      object: 'refund',
      amount,
      balance_transaction: newId('txn'),
      charge: charge.id,
      created: nowSec(),
      currency: charge.currency,
      destination_details:
        charge.payment_method_details?.type === 'card'
          ? { card: { reference: null, reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' }, type: 'card' }
          : { type: charge.payment_method_details?.type ?? 'card' },
      metadata,
      payment_intent: charge.payment_intent,
      reason,
      receipt_number: null,
      source_transfer_reversal: null,
      status: 'succeeded',
      transfer_reversal: null,
    };
    refunds.set(refund.id, refund);
    charge.amount_refunded += amount;
    charge.refunded = charge.amount_refunded >= charge.amount_captured;
    charge.refunds.data.unshift(refund);
    charge.refunds.total_count = charge.refunds.data.length;
    const evts = [emit('refund.created', refund, ctx), emit('charge.refunded', charge, ctx)];
    return { refund, events: evts };
  }

  function refundFromDashboard(paymentIntentId: string, amount?: number): any[] {
    const p: Params = { payment_intent: paymentIntentId };
    if (amount !== undefined) p.amount = String(amount);
    try {
      return createRefund(p, null).events;
    } catch (e) {
      if (e instanceof ApiError) throw new Error(`fake-stripe: refundFromDashboard refused: ${e.body.message}`);
      throw e;
    }
  }

  function failRefund(refundId: string): any[] {
    const refund = refunds.get(refundId);
    if (!refund) throw new Error(`fake-stripe: no such refund ${refundId}`);
    if (refund.status !== 'succeeded' && refund.status !== 'pending') {
      throw new Error(`fake-stripe: cannot fail refund ${refundId} in status ${refund.status}`);
    }
    const previous = { status: refund.status };
    refund.status = 'failed';
    refund.failure_reason = 'lost_or_stolen_card';
    refund.failure_balance_transaction = newId('txn');
    const charge = charges.get(refund.charge);
    if (charge) {
      charge.amount_refunded -= refund.amount;
      charge.refunded = charge.amount_refunded >= charge.amount_captured && charge.amount_captured > 0;
    }
    return [emit('refund.updated', refund, null, previous)];
  }

  // ---------------------------------------------------------------- expansion

  function lineItemsList(sessionId: string): any {
    return {
      object: 'list',
      data: extrasOf(sessionId).lineItems,
      has_more: false,
      url: `/v1/checkout/sessions/${sessionId}/line_items`,
    };
  }

  function lookupById(id: string): any {
    if (id.startsWith('pi_')) return paymentIntents.get(id);
    if (id.startsWith('ch_')) return charges.get(id);
    if (id.startsWith('re_')) return refunds.get(id);
    if (id.startsWith('cs_')) return sessions.get(id);
    return undefined;
  }

  function expandPath(obj: any, segments: string[], full: string): void {
    if (obj === null || typeof obj !== 'object') return;
    const [head, ...rest] = segments;
    if (head === undefined) return;
    if (Array.isArray(obj)) {
      for (const item of obj) expandPath(item, segments, full);
      return;
    }
    if (rest.length === 0) {
      if (obj.object === 'checkout.session' && head === 'line_items') {
        obj.line_items = clone(lineItemsList(obj.id));
        return;
      }
      const value = obj[head];
      if (value === null) return;
      if (typeof value === 'string') {
        const found = lookupById(value);
        if (found) {
          obj[head] = clone(found);
          return;
        }
      }
      if (typeof value === 'object' && value !== undefined) return; // already expanded
      throw invalidParam(`This property cannot be expanded (${full}).`, { param: 'expand' });
    }
    if (!(head in obj)) throw invalidParam(`This property cannot be expanded (${full}).`, { param: 'expand' });
    if (typeof obj[head] === 'string') expandPath(obj, [head], full); // 'a.b' expands 'a' first
    expandPath(obj[head], rest, full);
  }

  function render(obj: any, p: Params): any {
    const out = clone(obj);
    const expand = p.expand === undefined || p.expand === '' ? [] : asArray(p.expand);
    if (!expand) throw invalidParam('Invalid array', { param: 'expand' });
    for (const e of expand) {
      const path = parseString(e, 'expand', 500);
      if (path.split('.').length > 4) throw invalidParam(`You cannot expand more than 4 levels of a property. Property: ${path}`, { param: 'expand' });
      expandPath(out, path.split('.'), path);
    }
    return out;
  }

  // ---------------------------------------------------------------- routing

  type Handler = (m: RegExpExecArray, p: Params, ctx: RequestContext) => { status?: number; body: any };
  const routes: { method: string; re: RegExp; handler: Handler }[] = [];
  const route = (method: string, pattern: string, handler: Handler) =>
    routes.push({ method, re: new RegExp(`^${pattern.replace(/:id/g, '([^/]+)')}$`), handler });
  const idOf = (m: RegExpExecArray): string => decodeURIComponent(m[1] ?? '');

  route('POST', '/v1/checkout/sessions', (_m, p) => ({ body: render(createSession(p), p) }));
  route('GET', '/v1/checkout/sessions', (_m, p) => {
    rejectUnknown(p, [...LIST_PARAMS, 'payment_intent', 'status', 'customer', 'customer_details', 'payment_link', 'subscription']);
    const created = parseCreatedFilter(p.created);
    const items = [...sessions.values()]
      .reverse()
      .filter((s) => matchesCreated(s.created, created))
      .filter((s) => p.payment_intent === undefined || s.payment_intent === p.payment_intent)
      .filter((s) => p.status === undefined || s.status === p.status);
    return { body: render(paginate(items, p, '/v1/checkout/sessions', 'checkout.session'), p) };
  });
  route('GET', '/v1/checkout/sessions/:id', (m, p) => {
    const s = sessions.get(idOf(m));
    if (!s) throw noSuch('checkout.session', idOf(m), 'session');
    return { body: render(s, p) };
  });
  route('GET', '/v1/checkout/sessions/:id/line_items', (m, p) => {
    const s = sessions.get(idOf(m));
    if (!s) throw noSuch('checkout.session', idOf(m), 'session');
    return { body: render(paginate(extrasOf(s.id).lineItems.slice(), p, `/v1/checkout/sessions/${s.id}/line_items`, 'line_item'), p) };
  });
  route('POST', '/v1/checkout/sessions/:id/expire', (m, p, ctx) => {
    rejectUnknown(p, ['expand']);
    const s = sessions.get(idOf(m));
    if (!s) throw noSuch('checkout.session', idOf(m), 'session');
    if (s.status !== 'open') {
      throw refused(`Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of \`${s.status}\`.`);
    }
    expireSession(s, ctx);
    return { body: render(s, p) };
  });

  route('GET', '/v1/payment_intents', (_m, p) => {
    rejectUnknown(p, [...LIST_PARAMS, 'customer', 'customer_account']);
    const created = parseCreatedFilter(p.created);
    const items = [...paymentIntents.values()]
      .reverse()
      .filter((x) => matchesCreated(x.created, created))
      .filter((x) => p.customer === undefined || x.customer === p.customer);
    return { body: render(paginate(items, p, '/v1/payment_intents', 'payment_intent'), p) };
  });
  route('GET', '/v1/payment_intents/:id', (m, p) => {
    const pi = paymentIntents.get(idOf(m));
    if (!pi) throw noSuch('payment_intent', idOf(m), 'intent');
    return { body: render(pi, p) };
  });

  route('GET', '/v1/charges', (_m, p) => {
    rejectUnknown(p, [...LIST_PARAMS, 'customer', 'payment_intent', 'transfer_group']);
    const created = parseCreatedFilter(p.created);
    const items = [...charges.values()]
      .reverse()
      .filter((x) => matchesCreated(x.created, created))
      .filter((x) => p.payment_intent === undefined || x.payment_intent === p.payment_intent);
    return { body: render(paginate(items, p, '/v1/charges', 'charge'), p) };
  });
  route('GET', '/v1/charges/:id', (m, p) => {
    const ch = charges.get(idOf(m));
    if (!ch) throw noSuch('charge', idOf(m), 'charge');
    return { body: render(ch, p) };
  });

  route('POST', '/v1/refunds', (_m, p, ctx) => ({ body: render(createRefund(p, ctx).refund, p) }));
  route('GET', '/v1/refunds', (_m, p) => {
    rejectUnknown(p, [...LIST_PARAMS, 'charge', 'payment_intent']);
    const created = parseCreatedFilter(p.created);
    const items = [...refunds.values()]
      .reverse()
      .filter((x) => matchesCreated(x.created, created))
      .filter((x) => p.payment_intent === undefined || x.payment_intent === p.payment_intent)
      .filter((x) => p.charge === undefined || x.charge === p.charge);
    return { body: render(paginate(items, p, '/v1/refunds', 'refund'), p) };
  });
  route('GET', '/v1/refunds/:id', (m, p) => {
    const r = refunds.get(idOf(m));
    if (!r) throw noSuch('refund', idOf(m), 'refund');
    return { body: render(r, p) };
  });

  route('GET', '/v1/events', (_m, p) => {
    rejectUnknown(p, [...LIST_PARAMS, 'type', 'types', 'delivery_success']);
    if (p.type !== undefined && p.types !== undefined) {
      throw invalidParam('You may only specify one of these parameters: type, types.', { param: 'types' });
    }
    const created = parseCreatedFilter(p.created);
    let typeMatch: (t: string) => boolean = () => true;
    if (p.type !== undefined && p.type !== '') {
      const t = parseString(p.type, 'type');
      const re = new RegExp(`^${t.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
      typeMatch = (x) => re.test(x);
    } else if (p.types !== undefined && p.types !== '') {
      const list = asArray(p.types);
      if (!list) throw invalidParam('Invalid array', { param: 'types' });
      const set = new Set(list.map(String));
      typeMatch = (x) => set.has(x);
    }
    const items = [...events]
      .reverse()
      .filter((e) => matchesCreated(e.created, created))
      .filter((e) => typeMatch(e.type));
    return { body: render(paginate(items, p, '/v1/events', 'event'), p) };
  });
  route('GET', '/v1/events/:id', (m, p) => {
    const e = eventsById.get(idOf(m));
    if (!e) throw noSuch('event', idOf(m), 'id');
    return { body: render(e, p) };
  });

  // ---------------------------------------------------------------- HTTP server

  const sockets = new Set<Socket>();
  const hanging = new Set<http.ServerResponse>();

  function takeFault(path: string): ActiveFault | null {
    const f = fault;
    if (!f || f.mode === 'none') return null;
    if (f.pathPrefix && !path.startsWith(f.pathPrefix)) return null;
    if (f.remaining !== null) {
      f.remaining -= 1;
      if (f.remaining <= 0) fault = null;
    }
    return f;
  }

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
    if (res.destroyed || res.headersSent) return;
    const text = JSON.stringify(body, null, 2);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(text)),
      'Cache-Control': 'no-cache, no-store',
      ...headers,
    });
    res.end(text);
  }

  function applyFault(f: ActiveFault, res: http.ServerResponse, headers: Record<string, string>): void {
    if (f.mode === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    const status = f.status ?? 500;
    send(
      res,
      status,
      {
        error: {
          type: 'api_error',
          message:
            status === 503
              ? 'Stripe is temporarily unavailable. Please try again later.'
              : 'An unknown error occurred while processing your request. Please try again.',
        },
      },
      headers,
    );
  }

  function readBody(req: http.IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  function parseParams(raw: string): Params {
    if (!raw) return {};
    return qs.parse(raw, { depth: 10, arrayLimit: 100, parameterLimit: 10_000 }) as Params;
  }

  function headerOf(req: http.IncomingMessage, name: string): string | undefined {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const raw = await readBody(req);
    const params = method === 'POST' ? parseParams(raw) : parseParams(url.search.slice(1));
    const idempotencyKey = headerOf(req, 'idempotency-key');
    const apiVersion = headerOf(req, 'stripe-version') ?? null;
    if (apiVersion) lastApiVersion = apiVersion;
    const entry: FakeStripe['requests'][number] = { method, path, body: params };
    if (idempotencyKey !== undefined) entry.idempotencyKey = idempotencyKey;
    requests.push(entry);

    const ctx: RequestContext = {
      requestId: `req_${rand(14)}`,
      idempotencyKey: method === 'POST' ? (idempotencyKey ?? null) : null,
      apiVersion,
    };
    const headers: Record<string, string> = { 'Request-Id': ctx.requestId, 'Stripe-Version': apiVersion ?? FALLBACK_API_VERSION };
    if (idempotencyKey !== undefined && method === 'POST') headers['Idempotency-Key'] = idempotencyKey;

    const f = takeFault(path);
    if (f && !f.after) return applyFault(f, res, headers);

    const result = processRequest(req, method, path, params, ctx, headers);
    if (f) return applyFault(f, res, headers);
    send(res, result.status, result.body, headers);
  }

  function processRequest(
    req: http.IncomingMessage,
    method: string,
    path: string,
    params: Params,
    ctx: RequestContext,
    headers: Record<string, string>,
  ): { status: number; body: unknown } {
    const errorResult = (e: ApiError) => ({
      status: e.status,
      body: { error: { ...e.body, request_log_url: `https://dashboard.stripe.com/test/logs/${ctx.requestId}` } },
    });

    // authentication (the SDK sends `Authorization: Bearer <key>`)
    const auth = headerOf(req, 'authorization') ?? '';
    const key = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
    if (!key) {
      return {
        status: 401,
        body: {
          error: {
            type: 'invalid_request_error',
            message:
              'You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. \'Authorization: Bearer YOUR_SECRET_KEY\').',
          },
        },
      };
    }
    if (!/^(sk|rk)_test_/.test(key)) {
      return {
        status: 401,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'api_key_invalid',
            message: `Invalid API Key provided: ${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`,
          },
        },
      };
    }

    let match: { handler: Handler; m: RegExpExecArray } | null = null;
    for (const r of routes) {
      const m = r.method === method ? r.re.exec(path) : null;
      if (m) {
        match = { handler: r.handler, m };
        break;
      }
    }
    if (!match) {
      return {
        status: 404,
        body: {
          error: {
            type: 'invalid_request_error',
            message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
          },
        },
      };
    }

    const { handler, m } = match;
    const run = (): { status: number; body: unknown; store: boolean } => {
      try {
        const out = handler(m, params, ctx);
        return { status: out.status ?? 200, body: out.body, store: true };
      } catch (e) {
        if (e instanceof ApiError) return { ...errorResult(e), store: e.storeForIdempotency };
        throw e;
      }
    };

    const key2 = ctx.idempotencyKey;
    if (method !== 'POST' || key2 === null) {
      const r = run();
      return { status: r.status, body: r.body };
    }

    if (key2.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      return errorResult(
        invalidParam(`Idempotency-Key must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters long.`, { param: 'Idempotency-Key' }),
      );
    }
    const paramsKey = canonical(params);
    const stored = idempotency.get(key2);
    if (stored) {
      if (stored.method !== method || stored.path !== path) {
        headers['Stripe-Should-Retry'] = 'false';
        return errorResult(
          new ApiError(400, {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${method} ${path}' vs '${stored.method} ${stored.path}'). Try using a key other than '${key2}' if you meant to execute a different request.`,
          }),
        );
      }
      if (stored.paramsKey !== paramsKey) {
        headers['Stripe-Should-Retry'] = 'false';
        return errorResult(
          new ApiError(400, {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key2}' if you meant to execute a different request.`,
          }),
        );
      }
      headers['Idempotent-Replayed'] = 'true';
      headers['Original-Request'] = stored.requestId;
      return { status: stored.status, body: clone(stored.body) };
    }
    if (idempotencyInProgress.has(key2)) {
      return errorResult(
        new ApiError(409, {
          type: 'idempotency_error',
          message: `There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ${key2}. Please try again later.`,
        }),
      );
    }
    idempotencyInProgress.add(key2);
    try {
      const r = run();
      if (r.store) {
        idempotency.set(key2, { method, path, paramsKey, status: r.status, body: clone(r.body), requestId: ctx.requestId });
      }
      return { status: r.status, body: r.body };
    } finally {
      idempotencyInProgress.delete(key2);
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // a bug in the fake: answer like Stripe's 500 so the SDK surfaces it, and make it visible
      console.error('[fake-stripe] internal error', err);
      send(res, 500, { error: { type: 'api_error', message: `fake-stripe internal error: ${String(err)}` } }, {});
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | null = null;
  function close(): Promise<void> {
    if (closing) return closing;
    closed = true;
    closing = new Promise<void>((resolve) => {
      for (const ac of inFlightDeliveries) ac.abort();
      for (const res of hanging) res.destroy();
      hanging.clear();
      server.close(() => resolve());
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
    });
    return closing;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close,
    sessions,
    paymentIntents,
    charges,
    refunds,
    events,
    requests,
    deliveries,
    webhookSecret,
    completeSession,
    asyncPaymentSucceeded,
    asyncPaymentFailed,
    failPayment,
    expireSessionNow,
    refundFromDashboard,
    failRefund,
    setFault(f: FakeStripeFault): void {
      if (f.mode === 'none') {
        fault = null;
        return;
      }
      if (f.times !== undefined && (!Number.isInteger(f.times) || f.times < 1)) {
        throw new Error('fake-stripe: setFault times must be a positive integer');
      }
      fault = { ...f, remaining: f.times ?? null };
    },
    sign,
    deliver,
    deliverAll,
    flush,
    setWebhookUrl(url: string, autoDeliver?: boolean) {
      opts.webhookUrl = url;
      if (autoDeliver !== undefined) opts.autoDeliver = autoDeliver;
    },
  };
}
