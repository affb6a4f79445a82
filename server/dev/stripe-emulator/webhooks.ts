/**
 * Webhook signing and delivery. Events are signed with the real `stripe` SDK's own helper, so the
 * receiver's verification is exercised exactly as in production, and POSTed with Stripe's headers.
 * With autoDeliver on, every emitted event is delivered in emission order, one at a time, as Stripe
 * does for a single endpoint in the common case.
 */
import http from 'node:http';
import https from 'node:https';
import Stripe from 'stripe';
import type { Delivery, EmulatorState } from './state.js';

const DELIVERY_TIMEOUT_MS = 30_000;

export interface SignOptions {
  secret?: string;
  timestamp?: number;
}

/** An event to sign and send: one the emulator emitted, or one a test forged or tampered with. */
export type EventPayload = Pick<Stripe.Event, 'id' | 'type'> | { id: string; type: string };

export interface DeliveryResult {
  status: number;
  body: string;
}

export interface WebhookSender {
  secret: string;
  url(): string | undefined;
  setUrl(url: string, autoDeliver?: boolean): void;
  sign(event: EventPayload | string, o?: SignOptions): { payload: string; header: string };
  deliver(event: EventPayload, o?: SignOptions & { url?: string }): Promise<DeliveryResult>;
  deliverAll(events: EventPayload[]): Promise<DeliveryResult[]>;
  /** Waits until every automatic delivery queued so far (and any queued meanwhile) has finished. */
  flush(): Promise<void>;
  /** Aborts deliveries in flight and stops delivering (on close). */
  stop(): void;
}

export function createWebhookSender(
  state: EmulatorState,
  opts: { secret: string; url?: string; autoDeliver?: boolean },
): WebhookSender {
  let url = opts.url;
  let autoDeliver = opts.autoDeliver ?? false;
  let stopped = false;
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;
  const inFlight = new Set<AbortController>();

  function sign(event: EventPayload | string, o: SignOptions = {}): { payload: string; header: string } {
    // Stripe sends pretty-printed JSON: a receiver that re-serializes the parsed body instead of
    // verifying the raw bytes fails verification, exactly as it would in production.
    const payload = typeof event === 'string' ? event : JSON.stringify(event, null, 2);
    const header = Stripe.webhooks.generateTestHeaderString({
      payload,
      secret: o.secret ?? opts.secret,
      ...(o.timestamp !== undefined ? { timestamp: o.timestamp } : {}),
    });
    return { payload, header };
  }

  async function deliver(event: EventPayload, o: SignOptions & { url?: string } = {}): Promise<DeliveryResult> {
    const target = o.url ?? url;
    if (!target) throw new Error('stripe-emulator: deliver() needs a url option or a webhook URL');
    const { payload, header } = sign(event, o);
    const record: Delivery = { eventId: event.id, type: event.type, url: target, status: 0, body: '', at: Date.now() };
    state.deliveries.push(record);
    try {
      const res = await post(target, payload, header);
      record.status = res.status;
      record.body = res.body;
      return res;
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  function post(target: string, payload: string, signature: string): Promise<DeliveryResult> {
    return new Promise((resolve, reject) => {
      const u = new URL(target);
      const ac = new AbortController();
      inFlight.add(ac);
      const settle = <T>(fn: (v: T) => void) => (v: T) => {
        inFlight.delete(ac);
        fn(v);
      };
      const req = (u.protocol === 'https:' ? https : http).request(
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
          res.on('end', () => settle(resolve)({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', settle(reject));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`webhook delivery timed out after ${DELIVERY_TIMEOUT_MS}ms`)));
      req.on('error', settle(reject));
      req.end(payload);
    });
  }

  state.onEvent = (event) => {
    if (!autoDeliver || !url || stopped) return;
    pending++;
    chain = chain.then(async () => {
      try {
        if (!stopped) await deliver(event).catch(() => undefined); // failures are recorded in state.deliveries
      } finally {
        pending--;
      }
    });
  };

  return {
    secret: opts.secret,
    url: () => url,
    setUrl(next, auto) {
      url = next;
      if (auto !== undefined) autoDeliver = auto;
    },
    sign,
    deliver,
    async deliverAll(events) {
      const out: DeliveryResult[] = [];
      for (const e of events) out.push(await deliver(e));
      return out;
    },
    async flush() {
      while (pending > 0) await chain;
    },
    stop() {
      stopped = true;
      for (const ac of inFlight) ac.abort();
    },
  };
}
