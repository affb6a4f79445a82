import { eq } from 'drizzle-orm';
import type Stripe from 'stripe';
import type { Tx } from '../../db/types.js';
import { bookings } from '../../db/schema/index.js';
import { logger } from '../../lib/logger.js';

/** What every Stripe event handler shares: its context, its errors, and how it flags a booking. */

/** A failure no retry can cure (no such booking, amount mismatch): flagged, answered 200. */
export class PermanentEventError extends Error {
  override readonly name = 'PermanentEventError';
}

/** The event of one type: `EventOf<'charge.refunded'>` is `Stripe.ChargeRefundedEvent`. */
export type EventOf<T extends Stripe.Event.Type> = Extract<Stripe.Event, { type: T }>;

/** Read from Stripe BEFORE the transaction opened (no network call ever runs inside it). */
export interface Prefetched {
  /** charge.refunded: every refund of the charge. */
  refunds?: Stripe.Refund[];
  /** Paid session events: the charge of the session's payment intent, when Stripe told us in time. */
  chargeId?: string | null;
  /** Payment and refund events: the session that created a payment intent we have not recorded yet. */
  sessionId?: string | null;
}

export interface HandlerContext {
  tx: Tx;
  eventId: string;
  /** Who the booking's audit trail names: `stripe:<event id>`. */
  actor: string;
  prefetched: Prefetched;
  /** The clock's time when the transaction opened: whether a flight has left, a hold has run out. */
  now: Date;
}

export type BookingRow = typeof bookings.$inferSelect;

export function idOf(ref: string | { id: string } | null | undefined): string | null {
  if (!ref) return null;
  return typeof ref === 'string' ? ref : ref.id;
}

export async function flag(ctx: HandlerContext, bookingId: number, reason: string) {
  logger.error({ bookingId, stripeEventId: ctx.eventId }, `booking needs attention: ${reason}`);
  await ctx.tx.update(bookings).set({ needsAttention: true, attentionReason: reason.slice(0, 255) }).where(eq(bookings.id, bookingId));
}
