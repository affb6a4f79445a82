import { AppError } from '../lib/errors.js';
import { MIN_PAYABLE_WINDOW_MS } from './checkout-plan.js';

/**
 * When a flight stops being sold and when its travellers stop being able to refund it by themselves.
 * Pure, so each edge is unit-tested (tests/unit/cutoffs.test.ts); bookings.ts and payments.ts apply them.
 */

const MINUTE = 60_000;

/** SALES_CUTOFF_MINUTES before departure: no booking is created and no payment page runs past this. */
export const salesCloseAt = (departureAt: Date, salesCutoffMinutes: number): Date => new Date(departureAt.getTime() - salesCutoffMinutes * MINUTE);

/**
 * Refuses a booking that could not be paid before sales close. A booking is paid through a Checkout
 * page, and Stripe's shortest page lives 30 minutes; a booking made later than that would only keep
 * seats off sale until its hold lapsed, so bookings stop that much before sales close.
 */
export function assertBookable(flight: { departureAt: Date; flightNumber: string }, now: Date, salesCutoffMinutes: number): Date {
  const closes = salesCloseAt(flight.departureAt, salesCutoffMinutes);
  if (!isBookable(flight.departureAt, now, salesCutoffMinutes)) {
    throw new AppError('SALES_CLOSED', `Sales for flight ${flight.flightNumber} have closed`, { salesClosedAt: closes.toISOString() });
  }
  return closes;
}

/** The last instant (ms) at which a booking could still be paid before sales close. */
export const bookableUntilMs = (departureAt: Date, salesCutoffMinutes: number): number =>
  salesCloseAt(departureAt, salesCutoffMinutes).getTime() - MIN_PAYABLE_WINDOW_MS;

/** Whether a booking made at `now` could still be paid before sales close (search lists only these). */
export const isBookable = (departureAt: Date, now: Date, salesCutoffMinutes: number): boolean =>
  now.getTime() <= bookableUntilMs(departureAt, salesCutoffMinutes);

/** The last moment a traveller may request a refund by themselves: REFUND_CUTOFF_MINUTES before departure. */
export const refundDeadline = (departureAt: Date, refundCutoffMinutes: number): Date => new Date(departureAt.getTime() - refundCutoffMinutes * MINUTE);

/** Whether a refund requested at `now` is inside the traveller's window (the deadline itself still is). */
export const refundWindowOpen = (departureAt: Date, now: Date, refundCutoffMinutes: number): boolean =>
  now.getTime() <= refundDeadline(departureAt, refundCutoffMinutes).getTime();
