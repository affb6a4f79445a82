import { logger } from '../lib/logger.js';
import { captureFinding } from '../lib/sentry.js';
import type { ReconciliationReport } from './reconciliation.js';

/**
 * What a reconciliation run found that a human must act on, logged at error level and sent to Sentry:
 * every ledger mismatch, and every delayed payment flagged because Stripe has no outcome for it yet.
 *
 * One Sentry event per finding, each tagged with its booking id, payment intent and kind, so the
 * person fixing booking 981 finds its event by tag; one issue per kind (the fingerprint), so a day with
 * fifty Dashboard refunds is one issue with fifty events, not fifty issues, and a new kind of
 * disagreement opens an issue of its own (and its alert). The message names the booking and the run
 * because Sentry's Dedupe drops an event identical to the one before it (the same finding tomorrow
 * must still arrive). Tags and extra carry ids and amounts only: no name, e-mail or Stripe object.
 */
export function reportFindings(report: ReconciliationReport): void {
  const runTags = { job_name: 'reconcile', reconciliation_run: String(report.runId) };
  for (const m of report.mismatches) {
    logger.error({ runId: report.runId, ...m }, 'reconciliation: the ledger and Stripe disagree');
    const kind = m.kind ?? 'unknown';
    captureFinding(`Reconciliation: ${kind}, booking ${m.bookingId} (run ${report.runId})`, {
      fingerprint: ['reconciliation', kind],
      tags: { ...runTags, mismatch_kind: kind, booking_id: String(m.bookingId), payment_intent: m.paymentIntentId, currency: m.currency },
      extra: { ledgerNetMinor: m.ledgerNetMinor, stripeNetMinor: m.stripeNetMinor, reason: m.reason },
    });
  }
  for (const s of report.stuckPayments) {
    if (s.action !== 'flagged') continue;
    logger.error({ runId: report.runId, ...s }, 'reconciliation: a delayed payment has been processing too long; booking flagged');
    captureFinding(`Reconciliation: payment_stuck_processing, booking ${s.bookingId} (run ${report.runId})`, {
      fingerprint: ['reconciliation', 'payment_stuck_processing'],
      tags: { ...runTags, mismatch_kind: 'payment_stuck_processing', booking_id: String(s.bookingId), payment_intent: s.paymentIntentId, stripe_status: s.stripeStatus },
      extra: { processingSince: s.processingSince },
    });
  }
}
