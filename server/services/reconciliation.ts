import { and, eq, inArray, lt } from 'drizzle-orm';
import type Stripe from 'stripe';
import type { Deps } from '../deps.js';
import { bookings, reconciliationRuns, stripeEvents, type ReconciliationMismatch } from '../db/schema/index.js';
import { logger } from '../lib/logger.js';
import { currentRequestId } from '../lib/request-context.js';
import { handleStripeEvent, HANDLED_EVENT_TYPES } from './stripe-events/index.js';
import { compareLedger } from './reconciliation-ledger.js';
import { reportFindings } from './reconciliation-alerts.js';
import { checkStuckPayments, type StuckPayment } from './stuck-payments.js';

/**
 * The reconciliation with Stripe: what Stripe says happened, against what we stored and booked.
 *
 * 1. Stripe's event list for the window (`GET /v1/events`, `created[gte]`, the types we handle, paged
 *    with `starting_after`): an event we never received is stored and processed through the same
 *    processor as a webhook; one stored but unprocessed is processed again. Then every other stored,
 *    unprocessed event that is not flagged is re-driven too.
 * 2. Delayed payments processing longer than PAYMENT_PROCESSING_ALERT_DAYS: Stripe's answer applied,
 *    or the booking flagged (stuck-payments.ts).
 * 3. Per payment intent of a booking touched in the window, the ledger's net (charges - refunds +
 *    reversed refunds) against Stripe's (amount received - amount refunded of its charge)
 *    (reconciliation-ledger.ts).
 *
 * Each run writes a `reconciliation_runs` row; what needs a human goes to the log and Sentry
 * (reconciliation-alerts.ts). Every step is idempotent, so a second run changes nothing the first did
 * not. Stripe keeps events 30 days: a longer window is cut to that.
 */
export type ReconcileDeps = Pick<Deps, 'db' | 'redis' | 'stripe' | 'clock' | 'jobs' | 'config'>;

export const DEFAULT_RECONCILE_WINDOW_HOURS = 72;
const STRIPE_EVENT_RETENTION_MS = 30 * 24 * 3600_000;

export interface ReconciliationReport {
  runId: number;
  windowStart: Date;
  windowEnd: Date;
  eventsSeen: number;
  eventsRepaired: number;
  /** Events we tried to repair and could not (still failing): they stay unprocessed for the next run. */
  eventsFailed: number;
  bookingsChecked: number;
  mismatches: ReconciliationMismatch[];
  /** Delayed payments processing past PAYMENT_PROCESSING_ALERT_DAYS: settled from Stripe, or flagged. */
  stuckPayments: StuckPayment[];
}

export async function reconcileWithStripe(deps: ReconcileDeps, input: { since?: Date; trigger: 'schedule' | 'manual' }): Promise<ReconciliationReport> {
  const windowEnd = deps.clock.now();
  const requested = input.since ?? new Date(windowEnd.getTime() - DEFAULT_RECONCILE_WINDOW_HOURS * 3600_000);
  // A delayed payment whose outcome never reached us: read back as far as its booking, so the event
  // that settles it is found (within what Stripe keeps).
  const [oldestProcessing] = await deps.db
    .select({ createdAt: bookings.createdAt })
    .from(bookings)
    .where(and(eq(bookings.status, 'pending_payment'), eq(bookings.paymentStatus, 'processing'), lt(bookings.holdExpiresAt, windowEnd)))
    .orderBy(bookings.createdAt)
    .limit(1);
  const earliest = new Date(windowEnd.getTime() - STRIPE_EVENT_RETENTION_MS + 60_000);
  let windowStart = oldestProcessing && oldestProcessing.createdAt < requested ? oldestProcessing.createdAt : requested;
  if (windowStart < earliest) windowStart = earliest;

  const [ins] = await deps.db
    .insert(reconciliationRuns)
    .values({ triggeredBy: input.trigger, windowStart, windowEnd, mismatches: [], requestId: currentRequestId() ?? null });
  const runId = ins.insertId;
  const report: ReconciliationReport = { runId, windowStart, windowEnd, eventsSeen: 0, eventsRepaired: 0, eventsFailed: 0, bookingsChecked: 0, mismatches: [], stuckPayments: [] };
  try {
    const paymentIntents = await repairEvents(deps, report);
    // Before the comparison, so a payment settled here is compared with its fresh ledger entry.
    report.stuckPayments = await checkStuckPayments(deps, runId);
    for (const s of report.stuckPayments) paymentIntents.add(s.paymentIntentId);
    await compareLedger(deps, report, paymentIntents);
    await deps.db
      .update(reconciliationRuns)
      .set({
        status: report.mismatches.length ? 'mismatch' : 'ok',
        eventsSeen: report.eventsSeen,
        eventsRepaired: report.eventsRepaired,
        bookingsChecked: report.bookingsChecked,
        mismatchCount: report.mismatches.length,
        mismatches: report.mismatches,
        finishedAt: deps.clock.now(),
      })
      .where(eq(reconciliationRuns.id, runId));
  } catch (err) {
    await deps.db
      .update(reconciliationRuns)
      .set({ status: 'error', eventsSeen: report.eventsSeen, eventsRepaired: report.eventsRepaired, error: String((err as Error)?.message ?? err).slice(0, 2000), finishedAt: deps.clock.now() })
      .where(eq(reconciliationRuns.id, runId))
      .catch(() => undefined);
    throw err;
  }
  reportFindings(report);
  logger.info({ runId, ...summary(report) }, 'reconciliation finished');
  return report;
}

export function summary(r: ReconciliationReport) {
  return {
    windowStart: r.windowStart.toISOString(),
    windowEnd: r.windowEnd.toISOString(),
    eventsSeen: r.eventsSeen,
    eventsRepaired: r.eventsRepaired,
    eventsFailed: r.eventsFailed,
    bookingsChecked: r.bookingsChecked,
    mismatches: r.mismatches.length,
    stuckPaymentsSettled: r.stuckPayments.filter((s) => s.action === 'settled').length,
    stuckPaymentsFlagged: r.stuckPayments.filter((s) => s.action === 'flagged').length,
  };
}

/** Stripe's events of the window, oldest first, through the processor where we lack them. Returns the payment intents they name. */
async function repairEvents(deps: ReconcileDeps, report: ReconciliationReport): Promise<Set<string>> {
  const listed: Stripe.Event[] = [];
  // The SDK's auto-pagination follows `has_more` with `starting_after` = the last id of each page.
  for await (const event of deps.stripe.events.list({ created: { gte: Math.floor(report.windowStart.getTime() / 1000) }, types: [...HANDLED_EVENT_TYPES], limit: 100 })) {
    listed.push(event);
  }
  report.eventsSeen = listed.length;
  listed.reverse(); // Stripe lists newest first; money moves in the order it happened.
  const paymentIntents = new Set<string>();
  const stored = new Map<string, { processed: boolean; needsAttention: boolean }>();
  for (let i = 0; i < listed.length; i += 500) {
    const ids = listed.slice(i, i + 500).map((e) => e.id);
    const rows = await deps.db
      .select({ id: stripeEvents.id, processed: stripeEvents.processed, needsAttention: stripeEvents.needsAttention })
      .from(stripeEvents)
      .where(inArray(stripeEvents.id, ids));
    for (const r of rows) stored.set(r.id, r);
  }
  for (const event of listed) {
    const pi = paymentIntentOf(event);
    if (pi) paymentIntents.add(pi);
    const row = stored.get(event.id);
    if (row && (row.processed || row.needsAttention)) continue;
    await redrive(deps, report, event, row ? 'stored unprocessed' : 'never received');
  }
  // Stored, unprocessed, not flagged, and outside the list (older than the window): re-driven too.
  const leftover = await deps.db
    .select({ id: stripeEvents.id, payload: stripeEvents.payload })
    .from(stripeEvents)
    .where(and(eq(stripeEvents.processed, false), eq(stripeEvents.needsAttention, false)))
    .orderBy(stripeEvents.stripeCreatedAt)
    .limit(1000);
  for (const row of leftover) {
    const event = row.payload as Stripe.Event;
    const pi = paymentIntentOf(event);
    if (pi) paymentIntents.add(pi);
    await redrive(deps, report, event, 'stored unprocessed');
  }
  return paymentIntents;
}

async function redrive(deps: ReconcileDeps, report: ReconciliationReport, event: Stripe.Event, why: string) {
  const outcome = await handleStripeEvent(deps, event);
  if (outcome === 'failed') {
    report.eventsFailed++;
    logger.warn({ stripeEventId: event.id, type: event.type, why }, 'reconciliation: event still failing; left for the next run');
    return;
  }
  if (outcome !== 'duplicate') {
    report.eventsRepaired++;
    logger.warn({ stripeEventId: event.id, type: event.type, why, outcome }, 'reconciliation: repaired a stripe event');
  }
}

function paymentIntentOf(event: Stripe.Event): string | null {
  const o = event.data.object as { object?: string; id?: string; payment_intent?: string | { id: string } | null };
  if (o.object === 'payment_intent') return o.id ?? null;
  const pi = o.payment_intent;
  return typeof pi === 'string' ? pi : (pi?.id ?? null);
}
