import { and, eq, or } from 'drizzle-orm';
import type Stripe from 'stripe';
import { bookings, payments } from '../../db/schema/index.js';
import { lockBooking } from '../booking-state.js';
import { PermanentEventError, type BookingRow, type HandlerContext } from './context.js';

/**
 * Which booking an event is about, and whether it is ours to change. metadata.bookingId alone could
 * name any booking (another environment sharing the Stripe account, a hand-made event), so a session
 * must be one we opened for that booking, and a payment intent one of that booking's.
 */

interface BookingRef {
  metadata?: Stripe.Metadata | null;
  clientReferenceId?: string | null;
  paymentIntentId?: string | null;
  sessionId?: string | null;
}

/**
 * The booking an event is about, locked for the rest of the transaction. The bookingId we put in the
 * session's and the payment intent's metadata comes first; a refund made in the dashboard carries no
 * metadata, so the payment intent or session id we recorded is the fallback.
 */
export async function findBooking(ctx: HandlerContext, ref: BookingRef): Promise<BookingRow> {
  const raw = ref.metadata?.bookingId ?? ref.clientReferenceId ?? null;
  let bookingId: number | null = null;
  if (raw !== null) {
    if (!/^\d{1,15}$/.test(raw)) throw new PermanentEventError(`metadata.bookingId "${raw.slice(0, 40)}" is not a booking id`);
    bookingId = Number(raw);
  } else if (ref.paymentIntentId || ref.sessionId) {
    const [row] = await ctx.tx
      .select({ id: bookings.id })
      .from(bookings)
      .where(ref.paymentIntentId ? eq(bookings.stripePaymentIntentId, ref.paymentIntentId) : eq(bookings.stripeCheckoutSessionId, ref.sessionId!));
    const [viaPayments] = row
      ? [row]
      : await ctx.tx
          .select({ id: payments.bookingId })
          .from(payments)
          .where(ref.paymentIntentId ? eq(payments.stripePaymentIntentId, ref.paymentIntentId) : eq(payments.stripeCheckoutSessionId, ref.sessionId!));
    bookingId = viaPayments?.id ?? null;
  }
  if (bookingId === null) throw new PermanentEventError('the event names no booking (no metadata.bookingId, unknown payment intent)');
  const booking = await lockBooking(ctx.tx, bookingId);
  if (!booking) throw new PermanentEventError(`metadata.bookingId ${bookingId} names no booking`);
  return booking;
}

/** The booking a Checkout Session event names (by metadata, else by the session id we recorded). */
export function findBookingOfSession(ctx: HandlerContext, session: Stripe.Checkout.Session): Promise<BookingRow> {
  return findBooking(ctx, { metadata: session.metadata, clientReferenceId: session.client_reference_id, sessionId: session.id });
}

/**
 * The booking of a Checkout Session event, which must be a session WE opened for that booking (a
 * payments row records each one).
 */
export async function findSessionBooking(ctx: HandlerContext, session: Stripe.Checkout.Session): Promise<BookingRow> {
  const booking = await findBookingOfSession(ctx, session);
  const [ours] = await ctx.tx
    .select({ id: payments.id })
    .from(payments)
    .where(and(eq(payments.bookingId, booking.id), eq(payments.stripeCheckoutSessionId, session.id)));
  if (!ours) throw new PermanentEventError(`checkout session ${session.id} was not opened for booking ${booking.id}`);
  return booking;
}

/**
 * The booking of a payment-intent, charge or refund event. The payment intent must be one of this
 * booking's: recorded on it or on one of its payments rows, or created by a Checkout Session we opened
 * for it (the session prefetch asked Stripe about).
 */
export async function findPaymentBooking(ctx: HandlerContext, metadata: Stripe.Metadata | null | undefined, paymentIntentId: string): Promise<BookingRow> {
  const booking = await findBooking(ctx, { metadata, paymentIntentId });
  if (booking.stripePaymentIntentId === paymentIntentId) return booking;
  const [ours] = await ctx.tx
    .select({ id: payments.id })
    .from(payments)
    .where(
      and(
        eq(payments.bookingId, booking.id),
        ctx.prefetched.sessionId
          ? or(eq(payments.stripePaymentIntentId, paymentIntentId), eq(payments.stripeCheckoutSessionId, ctx.prefetched.sessionId))
          : eq(payments.stripePaymentIntentId, paymentIntentId),
      ),
    );
  if (!ours) throw new PermanentEventError(`payment intent ${paymentIntentId} did not come from a session opened for booking ${booking.id}`);
  return booking;
}
