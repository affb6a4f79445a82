/** Fault injection: Stripe answering 5xx, or not answering at all, before or after doing the work. */

export interface Fault {
  mode: 'error' | 'hang' | 'none';
  /** How many requests to affect; default unlimited until reset with mode 'none'. */
  times?: number;
  /** Only requests whose path starts with this (e.g. '/v1/refunds') are affected. */
  pathPrefix?: string;
  /** Only requests with this method (e.g. 'POST': the refund is made, the list before it is answered). */
  method?: 'GET' | 'POST';
  /** HTTP status for mode 'error': 500 (default) or e.g. 503. */
  status?: number;
  /**
   * Default false: the fault happens before Stripe sees the request (nothing is created, the
   * idempotency key stays unused). true: the request IS processed (objects, events, stored
   * idempotent response) and only the response is lost (error/hang): a retry with the same
   * Idempotency-Key then gets the stored result.
   */
  after?: boolean;
}

export type ActiveFault = Fault & { remaining: number | null };

export interface FaultSwitch {
  set(fault: Fault): void;
  /** The fault that applies to this request, counting it against `times`. */
  take(path: string, method: string): ActiveFault | null;
}

export function createFaultSwitch(): FaultSwitch {
  let fault: ActiveFault | null = null;
  return {
    set(f) {
      if (f.mode === 'none') {
        fault = null;
        return;
      }
      if (f.times !== undefined && (!Number.isInteger(f.times) || f.times < 1)) {
        throw new Error('stripe-emulator: setFault times must be a positive integer');
      }
      fault = { ...f, remaining: f.times ?? null };
    },
    take(path, method) {
      const f = fault;
      if (!f) return null;
      if (f.pathPrefix && !path.startsWith(f.pathPrefix)) return null;
      if (f.method && f.method !== method) return null;
      if (f.remaining !== null) {
        f.remaining -= 1;
        if (f.remaining <= 0) fault = null;
      }
      return f;
    },
  };
}

export function faultErrorBody(status: number) {
  return {
    error: {
      type: 'api_error',
      message:
        status === 503
          ? 'Stripe is temporarily unavailable. Please try again later.'
          : 'An unknown error occurred while processing your request. Please try again.',
    },
  };
}
