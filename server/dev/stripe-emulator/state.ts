/**
 * Everything the emulator knows, in memory: the objects Stripe would store, the events it emitted and
 * what it was asked. Objects are typed with the `stripe` package's own types; events are snapshots
 * (a later change to an object never rewrites an event already emitted).
 */
import type Stripe from 'stripe';
import { clone, newId, nowSec } from './ids.js';
import type { Params } from './params.js';

export const FALLBACK_API_VERSION = '2025-01-27.acacia';

/** Who caused a change: an API request (its id, idempotency key and Stripe-Version), or null for Stripe itself / a customer. */
export interface RequestContext {
  requestId: string;
  idempotencyKey: string | null;
  apiVersion: string | null;
}

/** What a session keeps that its API object does not show: the payment intent's future data, the line items. */
export interface SessionExtras {
  paymentIntentData: {
    metadata: Record<string, string>;
    description: string | null;
    receipt_email: string | null;
    statement_descriptor: string | null;
    statement_descriptor_suffix: string | null;
    setup_future_usage: Stripe.PaymentIntent.SetupFutureUsage | null;
    transfer_group: string | null;
  };
  lineItems: Stripe.LineItem[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey?: string;
  body: Params;
}

export interface Delivery {
  eventId: string;
  type: string;
  url: string;
  /** 0 when the request itself failed. */
  status: number;
  body: string;
  error?: string;
  at: number;
}

export type EventType = Stripe.Event['type'];
export type EventOf<T extends EventType> = Extract<Stripe.Event, { type: T }>;
export type EventObject<T extends EventType> = EventOf<T>['data']['object'];

export interface EmulatorState {
  sessions: Map<string, Stripe.Checkout.Session>;
  paymentIntents: Map<string, Stripe.PaymentIntent>;
  charges: Map<string, Stripe.Charge>;
  refunds: Map<string, Stripe.Refund>;
  disputes: Map<string, Stripe.Dispute>;
  sessionExtras: Map<string, SessionExtras>;
  /** Every event emitted, in order. */
  events: Stripe.Event[];
  eventsById: Map<string, Stripe.Event>;
  /** Events at the front of `events` that Stripe no longer serves (it keeps them 30 days): ageOutEvents. */
  eventsAgedOut: number;
  /** Every API request received, in order. */
  requests: RecordedRequest[];
  /** Every webhook delivery attempted, in order. */
  deliveries: Delivery[];
  /** api_version stamped on events: fixed by option, else the Stripe-Version the SDK last sent. */
  fixedApiVersion: string | null;
  lastApiVersion: string | null;
  onEvent: ((event: Stripe.Event) => void) | null;
}

export function createState(fixedApiVersion?: string): EmulatorState {
  return {
    sessions: new Map(),
    paymentIntents: new Map(),
    charges: new Map(),
    refunds: new Map(),
    disputes: new Map(),
    sessionExtras: new Map(),
    events: [],
    eventsById: new Map(),
    eventsAgedOut: 0,
    requests: [],
    deliveries: [],
    fixedApiVersion: fixedApiVersion ?? null,
    lastApiVersion: null,
    onEvent: null,
  };
}

/** Records an event whose data is a snapshot of `object` now, and hands it to the webhook sender. */
export function emit<T extends EventType>(
  state: EmulatorState,
  type: T,
  object: EventObject<T>,
  ctx: RequestContext | null,
  previousAttributes?: Partial<EventObject<T>>,
): EventOf<T> {
  const event = {
    id: newId('evt'),
    object: 'event',
    api_version: state.fixedApiVersion ?? ctx?.apiVersion ?? state.lastApiVersion ?? FALLBACK_API_VERSION,
    created: nowSec(),
    data: previousAttributes ? { object: clone(object), previous_attributes: clone(previousAttributes) } : { object: clone(object) },
    livemode: false,
    pending_webhooks: 1,
    request: { id: ctx?.requestId ?? null, idempotency_key: ctx?.idempotencyKey ?? null },
    type,
  } as unknown as EventOf<T>; // TypeScript cannot pick the union member for a generic T
  state.events.push(event);
  state.eventsById.set(event.id, event);
  state.onEvent?.(event);
  return event;
}

export function sessionExtrasOf(state: EmulatorState, sessionId: string): SessionExtras {
  const e = state.sessionExtras.get(sessionId);
  if (!e) throw new Error(`stripe-emulator: internal: no extras for ${sessionId}`);
  return e;
}
