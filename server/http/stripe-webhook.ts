import express, { Router } from 'express';
import type Stripe from 'stripe';
import type { Deps } from '../deps.js';
import { AppError } from '../lib/errors.js';
import { metrics, type WebhookOutcome } from '../lib/metrics.js';
import { handleStripeEvent, type EventOutcome } from '../services/stripe-events/index.js';
import { sendError } from './error-handler.js';

/**
 * POST /webhooks/stripe. Mounted before express.json(): the signature is computed over the exact raw
 * bytes Stripe sent, so the body must reach us untouched, and nothing parsed is trusted before the
 * signature checks out.
 *
 * 400: no or bad signature, stale timestamp, not an event (nothing is written anywhere).
 * 413: body over the limit. 200: processed now, before, ignored type, or flagged for a human (a
 * failure no retry can cure). 500: a failure a retry may cure, so Stripe retries.
 */
export function stripeWebhookRouter(deps: Deps): Router {
  const r = Router();
  r.post('/webhooks/stripe', express.raw({ type: () => true, limit: deps.config.BODY_LIMIT }), async (req, res) => {
    const signature = req.headers['stripe-signature'];
    if (typeof signature !== 'string' || !signature) throw new AppError('INVALID_SIGNATURE', 'Missing Stripe-Signature header');
    const body: unknown = req.body;
    if (!Buffer.isBuffer(body) || body.length === 0) throw new AppError('VALIDATION', 'Empty webhook body');
    let event: Stripe.Event;
    try {
      // Default tolerance: 300 seconds between Stripe's timestamp and now.
      event = deps.stripe.webhooks.constructEvent(body, signature, deps.config.STRIPE_WEBHOOK_SECRET);
    } catch {
      throw new AppError('INVALID_SIGNATURE', 'Stripe signature verification failed');
    }
    if (!isEvent(event)) throw new AppError('VALIDATION', 'Webhook body is not a Stripe event');
    let outcome: EventOutcome;
    try {
      outcome = await handleStripeEvent(deps, event);
    } catch (err) {
      // Not even stored (the database is down): 500, and Stripe retries.
      metrics.webhookEvent(event.type, 'failed_retryable');
      throw err;
    }
    metrics.webhookEvent(event.type, WEBHOOK_OUTCOME[outcome]);
    if (outcome === 'failed') {
      sendError(res, 500, 'INTERNAL', 'Event not processed; Stripe will retry it');
      return;
    }
    res.status(200).json({ received: true });
  });
  return r;
}

/** 'flagged' is answered 200 and left to a human; 'failed' is answered 500 so that Stripe retries. */
const WEBHOOK_OUTCOME: Record<EventOutcome, WebhookOutcome> = {
  processed: 'processed',
  duplicate: 'duplicate',
  ignored: 'ignored',
  flagged: 'failed_permanent',
  failed: 'failed_retryable',
};

function isEvent(e: unknown): e is Stripe.Event {
  const ev = e as Partial<Stripe.Event> | null;
  return (
    !!ev &&
    typeof ev === 'object' &&
    typeof ev.id === 'string' &&
    /^evt_[A-Za-z0-9_]{1,250}$/.test(ev.id) &&
    typeof ev.type === 'string' &&
    ev.type.length > 0 &&
    ev.type.length <= 128 &&
    typeof ev.created === 'number' &&
    !!ev.data &&
    typeof ev.data.object === 'object' &&
    ev.data.object !== null
  );
}
