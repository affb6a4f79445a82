/**
 * The Stripe emulator as a process of its own, as `npm start` runs it when .env has no real Stripe key:
 * it listens at STRIPE_API_BASE (where the API and the worker send the Stripe SDK), signs events with
 * STRIPE_WEBHOOK_SECRET and delivers them to this app's /webhooks/stripe as they happen.
 */
import { env } from '../../env.js';
import { logger } from '../../lib/logger.js';
import { startStripeEmulator } from './index.js';

if (env.NODE_ENV === 'production' || !env.STRIPE_API_BASE) {
  logger.fatal('the Stripe emulator runs only outside production, at STRIPE_API_BASE');
  process.exit(78); // EX_CONFIG
}
const base = new URL(env.STRIPE_API_BASE);
const log = logger.child({ component: 'stripe-emulator' });
const emulator = await startStripeEmulator({
  host: base.hostname.replace(/^\[|\]$/g, ''),
  port: Number(base.port || 80),
  publicUrl: base.origin,
  webhookSecret: env.STRIPE_WEBHOOK_SECRET,
  webhookUrl: `http://127.0.0.1:${env.PORT}/webhooks/stripe`,
  autoDeliver: true,
  logger: log,
});
log.info({ url: emulator.url, dashboard: `${emulator.publicUrl}/dashboard` }, 'Stripe emulator listening');

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'Stripe emulator stopping');
  await emulator.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
