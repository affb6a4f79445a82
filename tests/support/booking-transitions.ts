import type { BookingStatus } from '../../server/db/schema/index.js';

/**
 * The transition table as the bookings issue declares it, written out here on purpose rather than
 * imported: a test that compares TRANSITIONS with itself proves nothing.
 */
const ALLOWED = new Set<string>([
  'pending_payment->confirmed',
  'pending_payment->failed',
  'pending_payment->expired',
  'pending_payment->cancelled',
  'confirmed->refund_pending',
  'confirmed->refunded',
  'refund_pending->refunded',
  'failed->confirmed',
  'failed->refund_pending',
  'expired->confirmed',
  'expired->refund_pending',
  'cancelled->confirmed',
  'cancelled->refund_pending',
]);
export const STATUSES: BookingStatus[] = ['pending_payment', 'confirmed', 'failed', 'expired', 'cancelled', 'refund_pending', 'refunded'];
export const allowed = (from: BookingStatus, to: BookingStatus) => ALLOWED.has(`${from}->${to}`);
export const PAIRS = STATUSES.flatMap((from) => STATUSES.map((to) => [from, to] as const));
export const ALLOWED_PAIRS = PAIRS.filter(([from, to]) => allowed(from, to));
export const REFUSED_PAIRS = PAIRS.filter(([from, to]) => !allowed(from, to));
