import { describe, expect, it } from 'vitest';
import { maxHoldMs, planCheckout, type CheckoutPlanInput } from '../../server/services/checkout-plan.js';
import { AppError } from '../../server/lib/errors.js';

const NOW = new Date('2030-03-01T10:00:00.000Z');
const min = (n: number) => new Date(NOW.getTime() + n * 60_000);

/** A pending_payment booking made just now with the default 30-minute hold and no session yet. */
function input(booking: Partial<CheckoutPlanInput['booking']> = {}, rest: Partial<Omit<CheckoutPlanInput, 'booking'>> = {}): CheckoutPlanInput {
  return {
    booking: {
      status: 'pending_payment',
      paymentStatus: 'unpaid',
      holdExpiresAt: min(30),
      createdAt: NOW,
      stripeCheckoutSessionId: null,
      stripeCheckoutSessionExpiresAt: null,
      ...booking,
    },
    sessionOpen: false,
    closedSessionId: null,
    now: NOW,
    bookingHoldMinutes: 30,
    salesCloseAt: min(3 * 24 * 60),
    ...rest,
  };
}

function refusal(i: CheckoutPlanInput): AppError {
  try {
    planCheckout(i);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('planCheckout did not refuse');
}

describe('planning a Checkout attempt', () => {
  it.each(['confirmed', 'cancelled', 'expired', 'failed', 'refund_pending', 'refunded'] as const)('refuses a %s booking', (status) => {
    expect(refusal(input({ status })).code).toBe('INVALID_STATE_TRANSITION');
  });

  it('refuses a booking whose hold has lapsed but was not swept yet', () => {
    const err = refusal(input({ holdExpiresAt: NOW }));
    expect(err.code).toBe('INVALID_STATE_TRANSITION');
    expect(err.message).toMatch(/lapsed/);
  });

  it('refuses while a delayed payment is being processed', () => {
    expect(refusal(input({ paymentStatus: 'processing' })).code).toBe('CONFLICT');
  });

  it('a first session lasts Stripe minimum plus slack, whole seconds, and the hold follows it', () => {
    const plan = planCheckout(input());
    // 30 min + 5 s + 60 s of slack, rounded up to a whole second.
    expect(plan).toEqual({ kind: 'open', expiresAt: new Date(NOW.getTime() + 30 * 60_000 + 65_000), holdExpiresAt: new Date(NOW.getTime() + 30 * 60_000 + 65_000) });
  });

  it('rounds a planned expiry up to the next whole second', () => {
    const plan = planCheckout(input({}, { now: new Date(NOW.getTime() + 400) }));
    expect(plan.kind === 'open' && plan.expiresAt.getTime() % 1000).toBe(0);
    expect(plan.kind === 'open' && plan.expiresAt.getTime()).toBe(NOW.getTime() + 30 * 60_000 + 66_000);
  });

  it('a hold longer than the minimum page: the page lasts as long as the hold, and the hold does not move', () => {
    const hold = new Date(min(90).getTime() + 750);
    const plan = planCheckout(input({ holdExpiresAt: hold }, { bookingHoldMinutes: 120 }));
    expect(plan).toEqual({ kind: 'open', expiresAt: new Date(min(90).getTime()), holdExpiresAt: hold });
  });

  it('a hold more than 24 hours away is not a page expiry Stripe accepts: the page gets the minimum', () => {
    const plan = planCheckout(input({ holdExpiresAt: min(25 * 60) }, { bookingHoldMinutes: 24 * 60 }));
    expect(plan.kind === 'open' && plan.expiresAt).toEqual(new Date(NOW.getTime() + 30 * 60_000 + 65_000));
  });

  it('reuses the expiry another caller planned moments ago (same Stripe key, same session)', () => {
    const planned = min(31);
    const plan = planCheckout(input({ stripeCheckoutSessionExpiresAt: planned }));
    expect(plan.kind === 'open' && plan.expiresAt).toEqual(planned);
  });

  it('plans anew when the earlier plan would now be under Stripe minimum', () => {
    const plan = planCheckout(input({ stripeCheckoutSessionExpiresAt: min(29) }));
    expect(plan.kind === 'open' && plan.expiresAt).toEqual(new Date(NOW.getTime() + 30 * 60_000 + 65_000));
  });

  it('hands out the open session again while it has more than two minutes left', () => {
    const booking = { stripeCheckoutSessionId: 'cs_1', stripeCheckoutSessionExpiresAt: new Date(min(2).getTime() + 1) };
    expect(planCheckout(input(booking, { sessionOpen: true }))).toEqual({ kind: 'reuse' });
  });

  it('replaces an open session with two minutes or less left', () => {
    const booking = { stripeCheckoutSessionId: 'cs_1', stripeCheckoutSessionExpiresAt: min(2) };
    expect(planCheckout(input(booking, { sessionOpen: true }))).toEqual({ kind: 'replace', sessionId: 'cs_1' });
  });

  it('once this call has closed the old session, plans the replacement', () => {
    const booking = { stripeCheckoutSessionId: 'cs_1', stripeCheckoutSessionExpiresAt: min(1) };
    expect(planCheckout(input(booking, { sessionOpen: true, closedSessionId: 'cs_1' })).kind).toBe('open');
  });

  it('a recorded session that is no longer open (expired, failed) is neither reused nor replaced', () => {
    const booking = { stripeCheckoutSessionId: 'cs_1', stripeCheckoutSessionExpiresAt: min(20) };
    const plan = planCheckout(input(booking, { sessionOpen: false }));
    // The recorded session's expiry is not a plan to reuse: only an unrecorded plan is.
    expect(plan).toEqual({ kind: 'open', expiresAt: new Date(NOW.getTime() + 30 * 60_000 + 65_000), holdExpiresAt: new Date(NOW.getTime() + 30 * 60_000 + 65_000) });
  });

  it('never holds seats past the ceiling: created + max(2 h, hold + 1 h)', () => {
    expect(maxHoldMs(30)).toBe(2 * 3600_000);
    expect(maxHoldMs(120)).toBe(3 * 3600_000);
    const createdAt = new Date(NOW.getTime() - 100 * 60_000); // ceiling at NOW + 20 min: no page Stripe accepts fits
    expect(refusal(input({ createdAt, holdExpiresAt: min(5) })).code).toBe('CONFLICT');
  });

  it('cuts the page at the ceiling when the ceiling still leaves room for a page Stripe accepts', () => {
    const createdAt = new Date(NOW.getTime() - 60 * 60_000 + 500); // ceiling at NOW + 60 min + 0.5 s
    const plan = planCheckout(input({ createdAt, holdExpiresAt: min(90) }, { bookingHoldMinutes: 90 }));
    // hold + 1 h = 150 min after creation: NOW + 90 min, so the 90-minute hold is the page's expiry.
    expect(plan.kind === 'open' && plan.expiresAt).toEqual(min(90));
    const capped = planCheckout(input({ createdAt, holdExpiresAt: min(90) }, { bookingHoldMinutes: 30 }));
    // 2 h after creation is NOW + 60 min + 0.5 s: the page ends on that whole second.
    expect(capped.kind === 'open' && capped.expiresAt).toEqual(min(60));
  });
});

describe('a payment page never runs past the close of sales', () => {
  it('refuses with SALES_CLOSED once sales have closed, even with a session still open', () => {
    const err = refusal(input({ stripeCheckoutSessionId: 'cs_open', stripeCheckoutSessionExpiresAt: min(20) }, { sessionOpen: true, salesCloseAt: NOW }));
    expect(err.code).toBe('SALES_CLOSED');
  });

  it('ends the page when sales close, a whole second, and the hold with it', () => {
    const closes = new Date(NOW.getTime() + 45 * 60_000 + 700);
    const plan = planCheckout(input({ holdExpiresAt: min(50) }, { salesCloseAt: closes, bookingHoldMinutes: 120 }));
    expect(plan).toEqual({ kind: 'open', expiresAt: min(45), holdExpiresAt: min(45) });
  });

  it('a hold longer than the sales window does not stretch the page past the close', () => {
    const plan = planCheckout(input({ holdExpiresAt: min(100) }, { salesCloseAt: min(50), bookingHoldMinutes: 120 }));
    expect(plan.kind === 'open' && plan.expiresAt).toEqual(min(50));
  });

  it('refuses with SALES_CLOSED when sales close sooner than Stripe shortest page allows', () => {
    // Stripe needs 30 minutes; 30 min + 5 s + 60 s of slack is the least we plan with.
    expect(refusal(input({}, { salesCloseAt: new Date(NOW.getTime() + 31 * 60_000) })).code).toBe('SALES_CLOSED');
    expect(planCheckout(input({}, { salesCloseAt: new Date(NOW.getTime() + 31 * 60_000 + 5_000) })).kind).toBe('open');
  });
});
