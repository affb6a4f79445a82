/**
 * Idempotency-Key on POSTs, as Stripe implements it: the same key with the same params replays the
 * stored response (Idempotent-Replayed: true); with other params or another endpoint it is a 400
 * idempotency_error; while the first request runs, a 409. Validation failures are not stored. Like
 * Stripe, it forgets a key 24 hours after storing it: the same request then runs again.
 */
import { ApiError, invalidParam } from './errors.js';
import { clone } from './ids.js';
import { canonical, type Params } from './params.js';

const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/** Stripe prunes keys once they are at least 24 hours old. */
export const IDEMPOTENCY_KEY_RETENTION_MS = 24 * 60 * 60 * 1000;

export interface ApiResult {
  status: number;
  body: unknown;
  store: boolean;
}

interface Stored {
  method: string;
  path: string;
  paramsKey: string;
  status: number;
  body: unknown;
  requestId: string;
  storedAt: number;
}

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;

export function createIdempotencyStore(now: () => number = Date.now) {
  const stored = new Map<string, Stored>();
  const inProgress = new Set<string>();
  const expired = (s: Stored) => now() - s.storedAt >= IDEMPOTENCY_KEY_RETENTION_MS;

  /** Runs `run` at most once per key; `headers` gets Stripe's replay headers. Throws ApiError for key misuse. */
  function once(
    req: { key: string; method: string; path: string; params: Params; requestId: string },
    headers: Record<string, string>,
    run: () => ApiResult,
  ): ApiResult {
    const { key, method, path } = req;
    if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      throw invalidParam(`Idempotency-Key must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters long.`, { param: 'Idempotency-Key' });
    }
    const paramsKey = canonical(req.params);
    let prior = stored.get(key);
    if (prior && expired(prior)) {
      stored.delete(key);
      prior = undefined;
    }
    if (prior) {
      const misuse = (message: string) => {
        headers['Stripe-Should-Retry'] = 'false';
        return new ApiError(400, { type: 'idempotency_error', message });
      };
      if (prior.method !== method || prior.path !== path) {
        throw misuse(
          `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${method} ${path}' vs '${prior.method} ${prior.path}'). Try using a key other than '${key}' if you meant to execute a different request.`,
        );
      }
      if (prior.paramsKey !== paramsKey) {
        throw misuse(
          `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        );
      }
      headers['Idempotent-Replayed'] = 'true';
      headers['Original-Request'] = prior.requestId;
      return { status: prior.status, body: clone(prior.body), store: false };
    }
    if (inProgress.has(key)) {
      throw new ApiError(409, {
        type: 'idempotency_error',
        message: `There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ${key}. Please try again later.`,
      });
    }
    inProgress.add(key);
    try {
      const r = run();
      if (r.store) {
        stored.set(key, { method, path, paramsKey, status: r.status, body: clone(r.body), requestId: req.requestId, storedAt: now() });
      }
      return r;
    } finally {
      inProgress.delete(key);
    }
  }
  /** As if 24 hours had passed: every key stored so far is forgotten (keys stored later are not). */
  function forgetAll(): void {
    stored.clear();
  }
  return { once, forgetAll };
}
