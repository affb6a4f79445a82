import { and, eq, ne } from 'drizzle-orm';
import type { Db, DbOrTx, Tx } from '../../db/types.js';
import { emailDeliveries, type EmailKind } from '../../db/schema/index.js';

/**
 * The delivery record: at most one e-mail of a kind per booking. A sender claims the row in a short
 * transaction, sends with no transaction open, then marks it sent. The claim is a lease: a sender that
 * died holding it (crash, kill -9, lost connection) is replaced once the lease runs out.
 */
export type Delivery = typeof emailDeliveries.$inferSelect;

/** `<booking-42-confirmation@flights.example>`: the same for every attempt at the same e-mail. */
export function deliveryMessageId(bookingId: number, kind: EmailKind, domain: string): string {
  const what = kind === 'booking_confirmation' ? 'confirmation' : kind;
  return `<booking-${bookingId}-${what}@${domain}>`;
}

/** sent, skipped and failed never change again. */
export function isFinalDelivery(d: Delivery): boolean {
  return d.status === 'sent' || d.status === 'skipped' || d.status === 'failed';
}

export async function findDelivery(db: DbOrTx, bookingId: number, kind: EmailKind, opts: { forUpdate?: boolean } = {}): Promise<Delivery | undefined> {
  const query = db.select().from(emailDeliveries).where(and(eq(emailDeliveries.bookingId, bookingId), eq(emailDeliveries.kind, kind)));
  const [row] = await (opts.forUpdate ? query.for('update') : query);
  return row;
}

export type Claim =
  /** This caller holds the lease and should send now, as attempt `delivery.attempts`. */
  | { kind: 'claimed'; delivery: Delivery }
  /** Already final: sent, skipped or failed. */
  | { kind: 'final'; delivery: Delivery }
  /** Another sender holds a live lease; ask again after `delivery.leaseExpiresAt`. */
  | { kind: 'busy'; delivery: Delivery };

export interface ClaimInput {
  bookingId: number;
  kind: EmailKind;
  /** Used only when the row is created; a later claim keeps the stored one. */
  messageId: string;
  recipient: string;
  now: Date;
  leaseMs: number;
  /**
   * Asked under the row lock, just before a claim: a reason not to send at all (the booking was
   * refunded), which makes the row `skipped` for good, or null to send.
   */
  reasonToSkip(tx: Tx): Promise<string | null>;
}

export async function claimDelivery(db: Db, input: ClaimInput): Promise<Claim> {
  // Created in its own autocommit statement: the duplicate-key check of INSERT IGNORE takes a shared
  // lock, and several racers upgrading shared locks to FOR UPDATE inside one transaction deadlock.
  await db
    .insert(emailDeliveries)
    .ignore()
    .values({ bookingId: input.bookingId, kind: input.kind, messageId: input.messageId, status: 'pending' });
  return db.transaction(async (tx) => {
    const row = (await findDelivery(tx, input.bookingId, input.kind, { forUpdate: true }))!;
    if (isFinalDelivery(row)) return { kind: 'final', delivery: row };
    if (row.status === 'sending' && row.leaseExpiresAt && row.leaseExpiresAt > input.now) return { kind: 'busy', delivery: row };
    const skipReason = await input.reasonToSkip(tx);
    if (skipReason) {
      await tx.update(emailDeliveries).set({ status: 'skipped', skipReason, leaseExpiresAt: null }).where(eq(emailDeliveries.id, row.id));
      return { kind: 'final', delivery: { ...row, status: 'skipped', skipReason, leaseExpiresAt: null } };
    }
    const claimed = {
      status: 'sending' as const,
      attempts: row.attempts + 1,
      recipient: input.recipient,
      leaseExpiresAt: new Date(input.now.getTime() + input.leaseMs),
    };
    await tx.update(emailDeliveries).set(claimed).where(eq(emailDeliveries.id, row.id));
    return { kind: 'claimed', delivery: { ...row, ...claimed } };
  });
}

/**
 * The SMTP server said 250: the e-mail is out, whoever held the lease by now. (A sender whose lease
 * expired mid-send and was replaced still reports the truth; both copies carry one Message-ID.)
 */
export async function markDeliverySent(db: DbOrTx, id: number, receipt: { response: string; now: Date }): Promise<void> {
  await db
    .update(emailDeliveries)
    .set({ status: 'sent', sentAt: receipt.now, smtpResponse: receipt.response.slice(0, 512), leaseExpiresAt: null, lastError: null })
    .where(and(eq(emailDeliveries.id, id), ne(emailDeliveries.status, 'sent')));
}

/**
 * The send failed. Only the current claim holder (same attempt number, still `sending`) writes, so a
 * sender whose lease was taken over cannot undo its successor's work. Transient: back to `pending`
 * for the next attempt. Permanent: `failed` for good.
 */
export async function markDeliveryFailed(db: DbOrTx, claimed: Delivery, error: string, opts: { permanent: boolean }): Promise<void> {
  await db
    .update(emailDeliveries)
    .set({ status: opts.permanent ? 'failed' : 'pending', leaseExpiresAt: null, lastError: error.slice(0, 2000) })
    .where(and(eq(emailDeliveries.id, claimed.id), eq(emailDeliveries.status, 'sending'), eq(emailDeliveries.attempts, claimed.attempts)));
}

