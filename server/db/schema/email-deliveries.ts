import { mysqlTable, varchar, mysqlEnum, uniqueIndex, int, text } from 'drizzle-orm/mysql-core';
import { id, ref, timestamp, createdAt, updatedAt } from './columns.js';
import { bookings } from './bookings.js';

export const EMAIL_KINDS = ['booking_confirmation'] as const;
export type EmailKind = (typeof EMAIL_KINDS)[number];

/**
 * pending: recorded, nobody is sending (first sight, or the last attempt failed and may be retried).
 * sending: claimed by one sender until `lease_expires_at`; after that anyone may reclaim it.
 * sent, skipped, failed: final. skipped = the booking was no longer confirmed when its turn came;
 * failed = the SMTP server refused this message for good (5xx), retrying cannot help.
 */
export const EMAIL_DELIVERY_STATUSES = ['pending', 'sending', 'sent', 'skipped', 'failed'] as const;
export type EmailDeliveryStatus = (typeof EMAIL_DELIVERY_STATUSES)[number];

/**
 * One row per e-mail we owe (booking, kind): the unique key is what makes a confirmation go out once
 * however many times its job runs or however many workers race for it.
 */
export const emailDeliveries = mysqlTable(
  'email_deliveries',
  {
    id: id(),
    bookingId: ref('booking_id').notNull().references(() => bookings.id),
    kind: mysqlEnum('kind', EMAIL_KINDS).notNull(),
    status: mysqlEnum('status', EMAIL_DELIVERY_STATUSES).notNull().default('pending'),
    /**
     * The Message-ID header, fixed when the row is created: a resend after a crash between the SMTP 250
     * and marking the row sent carries the same id, so mail clients and servers can fold the two.
     */
    messageId: varchar('message_id', { length: 255 }).notNull(),
    /** Where it went (or was about to go); null until the first claim. */
    recipient: varchar('recipient', { length: 254 }),
    /** Claims so far; each claim is one attempt to hand the message to SMTP. */
    attempts: int('attempts').notNull().default(0),
    /** While `sending`: the claim is the holder's until then, anyone's after (a dead sender's claim). */
    leaseExpiresAt: timestamp('lease_expires_at'),
    sentAt: timestamp('sent_at'),
    /** The server's final reply (e.g. `250 OK queued as ...`), or the .eml path in development. */
    smtpResponse: varchar('smtp_response', { length: 512 }),
    /** Why it was skipped, e.g. `booking refunded`. */
    skipReason: varchar('skip_reason', { length: 255 }),
    lastError: text('last_error'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('uq_email_deliveries_booking_kind').on(t.bookingId, t.kind)],
);
