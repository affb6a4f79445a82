import { eq } from 'drizzle-orm';
import type { Deps } from '../../deps.js';
import { bookings } from '../../db/schema/index.js';
import { loadConfirmationDetails } from './confirmation-details.js';
import { renderBookingConfirmation } from './confirmation-template.js';
import { claimDelivery, deliveryMessageId, findDelivery, isFinalDelivery, markDeliveryFailed, markDeliverySent, type Delivery } from './deliveries.js';
import { isPermanentMailError, mailDomain, type Mailer } from './transport.js';

/**
 * The mailer is built once per process (createMailer) and travels beside the usual dependencies;
 * the use case needs neither Redis nor Stripe.
 */
export type EmailDeps = Pick<Deps, 'db' | 'config' | 'clock' | 'logger'> & { mailer: Mailer };

/**
 * A send never outlives SMTP_SEND_TIMEOUT_SECONDS (default 60): the transport is aborted, well before the
 * claim's lease, twice as long, runs out. After the lease a sender presumed dead is replaced.
 */
export const confirmationTimeouts = (config: Pick<EmailDeps['config'], 'SMTP_SEND_TIMEOUT_SECONDS'>) => {
  const sendMs = config.SMTP_SEND_TIMEOUT_SECONDS * 1000;
  return { sendMs, leaseMs: 2 * sendMs };
};
/** The lease with the default timeout. */
export const CONFIRMATION_LEASE_MS = 2 * 60_000;

export type ConfirmationOutcome =
  | { outcome: 'sent'; messageId: string; attempt: number }
  | { outcome: 'already_sent'; messageId: string }
  /** The booking was not confirmed when its turn came (refunded first): no e-mail, ever. */
  | { outcome: 'skipped'; reason: string }
  /** Another sender holds the claim; run again after `retryAt` (it may have died). */
  | { outcome: 'in_progress'; retryAt: Date }
  /** The SMTP server refused this message for good (a 5xx); recorded, not retried. */
  | { outcome: 'failed'; error: string };

/**
 * Sends a booking's confirmation e-mail once: however often the job runs, however many workers race.
 * A short transaction claims the delivery record, the message goes out with no transaction open, then
 * the record is marked sent. The only way to send twice is a crash between the SMTP 250 and that mark;
 * the resend then carries the same Message-ID. A transient failure (SMTP down, 4xx) throws, with the
 * record released for the next attempt: retries and their back-off belong to the caller (the job queue).
 */
export async function sendBookingConfirmation(deps: EmailDeps, input: { bookingId: number }): Promise<ConfirmationOutcome> {
  const { db, logger } = deps;
  const { bookingId } = input;
  const existing = await findDelivery(db, bookingId, 'booking_confirmation');
  if (existing && isFinalDelivery(existing)) return finalOutcome(existing);

  // Read and render before claiming: a booking that does not exist, or a rendering bug, leaves no claim behind.
  const details = await loadConfirmationDetails(db, bookingId);
  const rendered = renderBookingConfirmation(details.content);

  const claim = await claimDelivery(db, {
    bookingId,
    kind: 'booking_confirmation',
    messageId: deliveryMessageId(bookingId, 'booking_confirmation', mailDomain(deps.config.MAIL_FROM)),
    recipient: details.recipient.address,
    now: deps.clock.now(),
    leaseMs: confirmationTimeouts(deps.config).leaseMs,
    // Read at claim time, the last moment before the send, so a refund that came first wins.
    reasonToSkip: async (tx) => {
      const [booking] = await tx.select({ status: bookings.status }).from(bookings).where(eq(bookings.id, bookingId));
      return booking?.status === 'confirmed' ? null : `booking is ${booking?.status ?? 'gone'}`;
    },
  });
  if (claim.kind === 'final') {
    if (claim.delivery.status === 'skipped') logger.info({ bookingId, reason: claim.delivery.skipReason }, 'Booking confirmation skipped');
    return finalOutcome(claim.delivery);
  }
  if (claim.kind === 'busy') return { outcome: 'in_progress', retryAt: claim.delivery.leaseExpiresAt! };

  const delivery = claim.delivery;
  const log = { bookingId, messageId: delivery.messageId, attempt: delivery.attempts };
  let response: string;
  try {
    ({ response } = await deps.mailer.send(
      { to: details.recipient, ...rendered, messageId: delivery.messageId },
      { signal: AbortSignal.timeout(confirmationTimeouts(deps.config).sendMs) },
    ));
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    const permanent = isPermanentMailError(err);
    await markDeliveryFailed(db, delivery, error, { permanent });
    if (!permanent) {
      logger.warn({ ...log, err }, 'Booking confirmation not sent; it will be retried');
      throw err;
    }
    logger.error({ ...log, err }, 'Booking confirmation refused by the SMTP server; not retried');
    return { outcome: 'failed', error };
  }
  try {
    await markDeliverySent(db, delivery.id, { response, now: deps.clock.now() });
  } catch (err) {
    // The one window for a duplicate: said so, so a second copy in someone's inbox is explained.
    logger.error({ ...log, response, err }, 'Booking confirmation sent but not recorded; a retry after the lease resends it with the same Message-ID');
    throw err;
  }
  logger.info({ ...log, response }, 'Booking confirmation sent');
  return { outcome: 'sent', messageId: delivery.messageId, attempt: delivery.attempts };
}

function finalOutcome(d: Delivery): ConfirmationOutcome {
  if (d.status === 'sent') return { outcome: 'already_sent', messageId: d.messageId };
  if (d.status === 'skipped') return { outcome: 'skipped', reason: d.skipReason ?? 'skipped' };
  return { outcome: 'failed', error: d.lastError ?? 'refused by the SMTP server' };
}
