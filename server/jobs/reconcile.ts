import type { Job } from 'bullmq';
import { reconcileWithStripe, summary, type ReconcileDeps } from '../services/reconciliation.js';

/**
 * Every day at 02:00 in Riyadh (the business's own clock, DST-proof since Asia/Riyadh has none), one
 * BullMQ job scheduler: however many workers run, one job per tick.
 */
export const RECONCILIATION_SCHEDULE = { id: 'reconcile-daily', repeat: { pattern: '0 2 * * *', tz: 'Asia/Riyadh' } } as const;

/** The scheduled run: the same reconciliation as `npm run jobs:reconcile`, over the default window. */
export async function processReconciliation(deps: ReconcileDeps, _job: Job): Promise<unknown> {
  const report = await reconcileWithStripe(deps, { trigger: 'schedule' });
  return { runId: report.runId, ...summary(report) };
}
