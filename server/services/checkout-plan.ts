import type { bookings } from '../db/schema/index.js';
import { AppError } from '../lib/errors.js';

/**
 * The pure half of opening a Checkout Session: given the booking as it stands (locked) and the time,
 * what this attempt does and until when the new session and the seat hold last. No I/O, so every rule
 * here is tested on its own (tests/unit/checkout-plan.test.ts); payments.ts does the reads and writes.
 */

/** Stripe refuses Checkout Sessions that expire sooner than 30 minutes after creation. */
export const STRIPE_MIN_SESSION_MINUTES = 30;
/** Head room for the time between planning the session and Stripe receiving the request. */
export const SESSION_PLANNING_SLACK_MS = 60_000;
/** An open session closer than this to its expiry is not handed out again. */
export const REUSE_MIN_REMAINING_MS = 2 * 60_000;
/**
 * The shortest time before sales close in which a payment page can still be opened: Stripe's minimum
 * session life plus the head room planCheckout keeps (a booking made later could never be paid).
 */
export const MIN_PAYABLE_WINDOW_MS = STRIPE_MIN_SESSION_MINUTES * 60_000 + 5_000 + SESSION_PLANNING_SLACK_MS;
/** A hold further away than this is not a session's expiry (Stripe allows at most 24 hours). */
const STRIPE_MAX_SESSION_MS = 24 * 3600_000;

/** The longest a booking's seats may be held unpaid, however many payment pages are opened. */
export const maxHoldMs = (bookingHoldMinutes: number) => Math.max(2 * 3600_000, (bookingHoldMinutes + 60) * 60_000);

export interface CheckoutPlanInput {
  booking: Pick<
    typeof bookings.$inferSelect,
    'status' | 'paymentStatus' | 'holdExpiresAt' | 'createdAt' | 'stripeCheckoutSessionId' | 'stripeCheckoutSessionExpiresAt'
  >;
  /** The booking's recorded session still has an open payments row. */
  sessionOpen: boolean;
  /** A session this call already expired at Stripe so that it may be replaced. */
  closedSessionId: string | null;
  now: Date;
  /** BOOKING_HOLD_MINUTES: sets the ceiling on how long opening pages may keep the seats. */
  bookingHoldMinutes: number;
  /** When the flight's sales close (SALES_CUTOFF_MINUTES before departure): no page may run past it. */
  salesCloseAt: Date;
}

export type CheckoutPlan =
  /** Hand out the booking's open session again. */
  | { kind: 'reuse' }
  /** That session is too close to its expiry: expire it at Stripe, then plan again. */
  | { kind: 'replace'; sessionId: string }
  /** Open a new session expiring at `expiresAt`; the seats are held until `holdExpiresAt`. */
  | { kind: 'open'; expiresAt: Date; holdExpiresAt: Date };

/** Refuses (AppError) a booking that cannot be paid now; otherwise says what this attempt does. */
export function planCheckout({ booking, sessionOpen, closedSessionId, now, bookingHoldMinutes, salesCloseAt }: CheckoutPlanInput): CheckoutPlan {
  if (booking.status !== 'pending_payment') {
    throw new AppError('INVALID_STATE_TRANSITION', `Only a pending_payment booking can be paid; this one is ${booking.status}`, { from: booking.status });
  }
  const t = now.getTime();
  const salesClosed = () => new AppError('SALES_CLOSED', 'Sales for this flight have closed; it can no longer be paid online', { salesClosedAt: salesCloseAt.toISOString() });
  if (t >= salesCloseAt.getTime()) throw salesClosed();
  // A lapsed hold the expiry job has not swept yet must not be brought back to life here.
  if (booking.holdExpiresAt && booking.holdExpiresAt.getTime() <= t) {
    throw new AppError('INVALID_STATE_TRANSITION', 'The seat hold on this booking has lapsed; please book again', { from: booking.status });
  }
  // A delayed payment (bank debit) is under way: a second payment page could charge twice.
  if (booking.paymentStatus === 'processing') {
    throw new AppError('CONFLICT', 'A payment for this booking is already being processed; wait for its outcome');
  }
  const current = booking.stripeCheckoutSessionId;
  if (current && sessionOpen) {
    const remaining = (booking.stripeCheckoutSessionExpiresAt?.getTime() ?? 0) - t;
    if (remaining > REUSE_MIN_REMAINING_MS) return { kind: 'reuse' };
    // Still open but too close to its expiry to hand out: it is replaced, and closed at Stripe
    // first, or a traveller with the old page still open could pay both.
    if (current !== closedSessionId) return { kind: 'replace', sessionId: current };
  }

  // Reuse a plan another caller made moments ago (same Stripe key: same session), else plan anew.
  const minimum = t + STRIPE_MIN_SESSION_MINUTES * 60_000 + 5_000;
  const planned = current === null ? booking.stripeCheckoutSessionExpiresAt : null;
  let expiresAt = planned && planned.getTime() >= minimum ? planned : new Date(Math.ceil((minimum + SESSION_PLANNING_SLACK_MS) / 1000) * 1000);
  // A hold longer than the page: the page lasts as long as the hold (whole seconds, as Stripe has it).
  if (booking.holdExpiresAt && booking.holdExpiresAt > expiresAt && booking.holdExpiresAt.getTime() - t <= STRIPE_MAX_SESSION_MS) {
    expiresAt = new Date(Math.floor(booking.holdExpiresAt.getTime() / 1000) * 1000);
  }
  // Each new session extends the hold; without a ceiling, opening pages again and again would
  // keep seats off sale for ever without paying.
  const ceiling = booking.createdAt.getTime() + maxHoldMs(bookingHoldMinutes);
  if (expiresAt.getTime() > ceiling) {
    if (ceiling < minimum + SESSION_PLANNING_SLACK_MS) throw new AppError('CONFLICT', 'The seats of this booking cannot be held any longer; please book again');
    expiresAt = new Date(Math.floor(ceiling / 1000) * 1000);
  }
  // The page closes when sales do; too little time left for Stripe's shortest page: sales are over.
  if (expiresAt.getTime() > salesCloseAt.getTime()) {
    if (salesCloseAt.getTime() < minimum + SESSION_PLANNING_SLACK_MS) throw salesClosed();
    expiresAt = new Date(Math.floor(salesCloseAt.getTime() / 1000) * 1000);
  }
  // Seats are not held past the close of sales either: nobody can pay for them after it.
  const held = booking.holdExpiresAt && booking.holdExpiresAt > expiresAt ? booking.holdExpiresAt : expiresAt;
  const holdExpiresAt = held > salesCloseAt ? expiresAt : held;
  return { kind: 'open', expiresAt, holdExpiresAt };
}
