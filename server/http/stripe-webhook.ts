import express, { Router } from 'express';
import type { AppDeps } from '../app.js';
import { env } from '../env.js';
import { sendError } from './error-handler.js';

/**
 * POST /webhooks/stripe. Mounted before express.json(): the signature is computed over the exact raw
 * bytes Stripe sent, so the body must reach us untouched.
 */
export function stripeWebhookRouter(_deps: AppDeps): Router {
  const r = Router();
  r.post('/webhooks/stripe', express.raw({ type: () => true, limit: env.BODY_LIMIT }), (_req, res) => {
    sendError(res, 501, 'NOT_IMPLEMENTED', 'Stripe webhook processing is not enabled yet');
  });
  return r;
}
