/**
 * A stateful Stripe emulator for development and tests: the slice of Stripe's HTTP API this project
 * uses, for the REAL `stripe` SDK to talk to over HTTP
 *
 *   new Stripe(key, { host: '127.0.0.1', port: emulator.port, protocol: 'http' })   // or STRIPE_API_BASE
 *
 * Served: Checkout Sessions (create / retrieve / list / line_items / expire), PaymentIntents
 * (retrieve / list), Charges (retrieve / list), Refunds (create / retrieve / list) and Events
 * (retrieve / list). Objects are shaped like Stripe's (its OpenAPI fixtures) and typed with the
 * `stripe` package's types, lists use Stripe's list shape (autoPagingEach works), errors use Stripe's
 * error body, and POSTs honour `Idempotency-Key` the way Stripe does, for 24 hours. stripe-mock cannot
 * do this job: it is stateless.
 *
 * What a customer, a bank or the Dashboard does (paying, declines, delayed payments, expiry, Dashboard
 * refunds, failed refunds, disputes) is driven by the scenario methods, which return the events they
 * emitted. Events are signed with the real SDK's helper and delivered to a webhook URL by hand
 * (`deliver`) or automatically (`autoDeliver`).
 */
import type { Logger } from 'pino';
import type Stripe from 'stripe';
import { apiRoutes } from './api-routes.js';
import { createFaultSwitch, type Fault } from './faults.js';
import { startHttpServer, type PageHandler } from './http-server.js';
import { createIdempotencyStore } from './idempotency.js';
import { dashboard } from './pages/dashboard.js';
import { hostedCheckout } from './pages/hosted-checkout.js';
import { rand } from './ids.js';
import * as scenarios from './scenarios.js';
import { createState, type Delivery, type EmulatorState, type EventOf, type RecordedRequest } from './state.js';
import type { CardPaymentEvents } from './scenarios.js';
import { createWebhookSender, type DeliveryResult, type EventPayload, type SignOptions } from './webhooks.js';
import { failRefund } from './objects/refund.js';

export type { Fault, Delivery, RecordedRequest, DeliveryResult, EventPayload };

export interface StripeEmulatorOptions {
  /** Where events are delivered (the app's /webhooks/stripe). Also settable later with setWebhookUrl. */
  webhookUrl?: string;
  /** The secret events are signed with; default a fresh whsec_... */
  webhookSecret?: string;
  /** Deliver every event as it is emitted. Default false (tests deliver by hand). */
  autoDeliver?: boolean;
  /** api_version stamped on events. Default: the Stripe-Version the SDK sent (latest seen), else a fixed version. */
  apiVersion?: string;
  /** Default 127.0.0.1 and a free port. */
  host?: string;
  port?: number;
  /** Where a browser reaches the emulator (Checkout Session urls point here); default its own address. */
  publicUrl?: string;
  /** How long a bank transfer on the hosted page takes to settle (async_payment_succeeded); default 3 s. */
  delayedPaymentMs?: number;
  logger?: Logger;
}

export interface StripeEmulator {
  /** e.g. http://127.0.0.1:54321: the SDK's STRIPE_API_BASE. */
  url: string;
  port: number;
  /** Where browsers reach it (Checkout Session urls). */
  publicUrl: string;
  close(): Promise<void>;
  // State, for assertions and pages. Objects are live: read them, change them only through scenarios.
  sessions: Map<string, Stripe.Checkout.Session>;
  paymentIntents: Map<string, Stripe.PaymentIntent>;
  charges: Map<string, Stripe.Charge>;
  refunds: Map<string, Stripe.Refund>;
  disputes: Map<string, Stripe.Dispute>;
  /** Every event emitted, in order (snapshots). */
  events: Stripe.Event[];
  /** Every API request received, in order. */
  requests: RecordedRequest[];
  /** Every webhook delivery attempted, in order. */
  deliveries: Delivery[];
  lineItemsOf(sessionId: string): Stripe.LineItem[];
  webhookSecret: string;
  // Scenarios: each returns the events it emitted.
  /** Pays: by card (three events, in Stripe's order), or by a delayed method (`async`: completed, still unpaid). */
  completeSession(sessionId: string, opts: { async: true }): [EventOf<'checkout.session.completed'>];
  completeSession(sessionId: string, opts?: { async?: false }): CardPaymentEvents;
  completeSession(sessionId: string, opts?: { async?: boolean }): CardPaymentEvents | [EventOf<'checkout.session.completed'>];
  asyncPaymentSucceeded: OmitState<typeof scenarios.asyncPaymentSucceeded>;
  asyncPaymentFailed: OmitState<typeof scenarios.asyncPaymentFailed>;
  failPayment: OmitState<typeof scenarios.failPayment>;
  expireSessionNow: OmitState<typeof scenarios.expireSessionNow>;
  refundFromDashboard: OmitState<typeof scenarios.refundFromDashboard>;
  failRefund: OmitState<typeof failRefund>;
  openDispute: OmitState<typeof scenarios.openDispute>;
  /** A day later: Stripe has forgotten every Idempotency-Key used so far (it keeps them 24 hours). */
  forgetIdempotencyKeys(): void;
  /**
   * A month later: Stripe no longer lists or serves the events emitted so far (it keeps them 30 days);
   * the objects stay. `events` still holds them, for assertions.
   */
  ageOutEvents(): void;
  // Faults and webhooks.
  setFault(fault: Fault): void;
  sign(event: EventPayload | string, opts?: SignOptions): { payload: string; header: string };
  deliver(event: EventPayload, opts?: SignOptions & { url?: string }): Promise<DeliveryResult>;
  /** Sequential. */
  deliverAll(events: EventPayload[]): Promise<DeliveryResult[]>;
  /** Waits until every automatic delivery queued so far (and any queued meanwhile) has finished. */
  flush(): Promise<void>;
  /** Points deliveries at a webhook URL known only after the emulator started (the app's port). */
  setWebhookUrl(url: string, autoDeliver?: boolean): void;
}

/** A scenario bound to this emulator's state. */
type OmitState<F> = F extends (state: EmulatorState, ...args: infer A) => infer R ? (...args: A) => R : never;

export async function startStripeEmulator(options: StripeEmulatorOptions = {}): Promise<StripeEmulator> {
  const state = createState(options.apiVersion);
  const webhooks = createWebhookSender(state, {
    secret: options.webhookSecret ?? `whsec_${rand(32)}`,
    ...(options.webhookUrl !== undefined ? { url: options.webhookUrl } : {}),
    autoDeliver: options.autoDeliver ?? false,
  });
  const faults = createFaultSwitch();
  const idempotency = createIdempotencyStore();
  let publicUrl = options.publicUrl ?? '';
  let emulator: StripeEmulator | null = null;
  let pages: PageHandler | null = null;
  const server = await startHttpServer({
    state,
    routes: apiRoutes(state, () => publicUrl),
    faults,
    idempotency,
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    pages: (req) => (pages ? pages(req) : Promise.resolve(null)),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  publicUrl ||= server.url;
  const on =
    <A extends unknown[], R>(fn: (s: EmulatorState, ...args: A) => R) =>
    (...args: A): R =>
      fn(state, ...args);

  const timers = new Set<NodeJS.Timeout>();
  /** A bank transfer paid on the hosted page settles a little later, as Stripe's delayed methods do. */
  const settleLater = (sessionId: string) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      try {
        emulator?.asyncPaymentSucceeded(sessionId);
      } catch (err) {
        options.logger?.warn({ err, sessionId }, 'stripe-emulator: delayed payment could not settle');
      }
    }, options.delayedPaymentMs ?? 3000);
    timers.add(timer);
  };

  emulator = {
    url: server.url,
    port: server.port,
    publicUrl,
    async close() {
      for (const t of timers) clearTimeout(t);
      webhooks.stop();
      await server.close();
    },
    sessions: state.sessions,
    paymentIntents: state.paymentIntents,
    charges: state.charges,
    refunds: state.refunds,
    disputes: state.disputes,
    events: state.events,
    requests: state.requests,
    deliveries: state.deliveries,
    lineItemsOf: (sessionId) => state.sessionExtras.get(sessionId)?.lineItems ?? [],
    webhookSecret: webhooks.secret,
    // One implementation behind the overloads above.
    completeSession: ((id: string, o?: { async?: boolean }) => scenarios.completeSession(state, id, o)) as StripeEmulator['completeSession'],
    asyncPaymentSucceeded: on(scenarios.asyncPaymentSucceeded),
    asyncPaymentFailed: on(scenarios.asyncPaymentFailed),
    failPayment: on(scenarios.failPayment),
    expireSessionNow: on(scenarios.expireSessionNow),
    refundFromDashboard: on(scenarios.refundFromDashboard),
    failRefund: on(failRefund),
    openDispute: on(scenarios.openDispute),
    forgetIdempotencyKeys: () => idempotency.forgetAll(),
    ageOutEvents: () => {
      for (const e of state.events.slice(state.eventsAgedOut)) state.eventsById.delete(e.id);
      state.eventsAgedOut = state.events.length;
    },
    setFault: (f) => faults.set(f),
    sign: webhooks.sign,
    deliver: webhooks.deliver,
    deliverAll: webhooks.deliverAll,
    flush: webhooks.flush,
    setWebhookUrl: webhooks.setUrl,
  };
  const handlers = [hostedCheckout(emulator, { settleLater }), dashboard(emulator)];
  pages = async (req) => {
    for (const handle of handlers) {
      const res = await handle(req);
      if (res) return res;
    }
    return null;
  };
  return emulator;
}
