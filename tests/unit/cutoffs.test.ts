import { describe, expect, it } from 'vitest';
import { assertBookable, refundDeadline, refundWindowOpen, salesCloseAt } from '../../server/services/cutoffs.js';
import { AppError } from '../../server/lib/errors.js';

const DEPARTURE = new Date('2030-03-01T12:00:00.000Z');
const before = (minutes: number, ms = 0) => new Date(DEPARTURE.getTime() - minutes * 60_000 + ms);
const flight = { departureAt: DEPARTURE, flightNumber: 'SV1020' };

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('sales close SALES_CUTOFF_MINUTES before departure', () => {
  it('sales close at departure minus the cutoff', () => {
    expect(salesCloseAt(DEPARTURE, 60)).toEqual(before(60));
    expect(salesCloseAt(DEPARTURE, 0)).toEqual(DEPARTURE);
  });

  it('a booking needs time for a 30-minute payment page before sales close', () => {
    // 60 min cutoff + 30 min page + 65 s of head room.
    expect(assertBookable(flight, before(60 + 31, -5_000), 60)).toEqual(before(60));
    const late = refusal(() => assertBookable(flight, before(60 + 31, -4_999), 60));
    expect(late.code).toBe('SALES_CLOSED');
    expect(late.details).toEqual({ salesClosedAt: before(60).toISOString() });
  });

  it('inside the cutoff and after departure it is SALES_CLOSED', () => {
    expect(refusal(() => assertBookable(flight, before(59), 60)).code).toBe('SALES_CLOSED');
    expect(refusal(() => assertBookable(flight, before(-10), 60)).code).toBe('SALES_CLOSED');
  });
});

describe('a traveller may refund until REFUND_CUTOFF_MINUTES before departure', () => {
  it('the deadline itself is still inside the window, a millisecond later is not', () => {
    expect(refundDeadline(DEPARTURE, 120)).toEqual(before(120));
    expect(refundWindowOpen(DEPARTURE, before(120), 120)).toBe(true);
    expect(refundWindowOpen(DEPARTURE, before(120, 1), 120)).toBe(false);
    expect(refundWindowOpen(DEPARTURE, before(-60), 120)).toBe(false);
  });
});
