import { describe, expect, it } from 'vitest';
import { BOOKING_STATUSES, type BookingStatus } from '../../server/db/schema/index.js';
import { AppError } from '../../server/lib/errors.js';
import { assertTransition, canTransition, invalidTransition, TRANSITIONS } from '../../server/services/booking-state.js';
import { ALLOWED_PAIRS, PAIRS, STATUSES, allowed } from '../support/booking-transitions.js';

function thrownBy(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure, the call succeeded');
}

/** Every status reachable from `from` by allowed moves (not counting `from` itself unless a cycle returns to it). */
function reachableFrom(from: BookingStatus): Set<BookingStatus> {
  const seen = new Set<BookingStatus>();
  const queue = [...TRANSITIONS[from]];
  while (queue.length) {
    const s = queue.shift()!;
    if (seen.has(s)) continue;
    seen.add(s);
    queue.push(...TRANSITIONS[s]);
  }
  return seen;
}

describe('the booking transition table', () => {
  it('knows the seven statuses of the schema, and thirteen moves', () => {
    expect([...BOOKING_STATUSES].sort()).toEqual([...STATUSES].sort());
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATUSES].sort());
    expect(ALLOWED_PAIRS).toHaveLength(13);
  });

  it.each(PAIRS)('%s -> %s is allowed exactly when the issue says so', (from, to) => {
    expect(canTransition(from, to)).toBe(allowed(from, to));
    if (allowed(from, to)) {
      expect(() => assertTransition(from, to)).not.toThrow();
    } else {
      const err = thrownBy(() => assertTransition(from, to));
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code: 'INVALID_STATE_TRANSITION', details: { from, to } });
      expect((err as AppError).message).toBe(`A booking cannot go from ${from} to ${to}`);
    }
  });

  it('no status moves to itself (a repeated event must be a no-op upstream, never a second audit row)', () => {
    for (const s of STATUSES) expect(canTransition(s, s), s).toBe(false);
  });

  it('refunded is terminal, and every other status can still end there (money is never stuck)', () => {
    expect(TRANSITIONS.refunded).toEqual([]);
    for (const s of STATUSES.filter((x) => x !== 'refunded')) expect(reachableFrom(s).has('refunded'), s).toBe(true);
  });

  it('nothing returns to pending_payment: a hold is never re-opened', () => {
    for (const s of STATUSES) expect(canTransition(s, 'pending_payment'), s).toBe(false);
  });

  it('a late payment can confirm a failed, expired or cancelled booking, or be refunded', () => {
    for (const closed of ['failed', 'expired', 'cancelled'] as const) {
      expect(TRANSITIONS[closed]).toEqual(expect.arrayContaining(['confirmed', 'refund_pending']));
    }
  });

  it('a refused move carries the hint after the states (requestRefund points to the right call)', () => {
    const err = thrownBy(() => assertTransition('confirmed', 'cancelled', 'use payments.requestRefund'));
    expect((err as AppError).message).toBe('A booking cannot go from confirmed to cancelled: use payments.requestRefund');
    expect((err as AppError).httpStatus).toBe(409);
    expect(invalidTransition('refunded', 'confirmed').message).toBe('A booking cannot go from refunded to confirmed');
  });
});
