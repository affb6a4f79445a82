/** Stripe's error bodies and the three ways a request is refused (see Stripe's docs on errors and idempotency). */

export interface StripeErrorBody {
  type: 'invalid_request_error' | 'idempotency_error' | 'api_error' | 'card_error';
  message: string;
  code?: string;
  param?: string;
  doc_url?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: StripeErrorBody,
    /** Whether Stripe stores this result for the idempotency key (validation failures are not stored). */
    readonly storeForIdempotency = true,
  ) {
    super(body.message);
  }
}

function withDocUrl(body: StripeErrorBody): StripeErrorBody {
  return body.code ? { ...body, doc_url: `https://stripe.com/docs/error-codes/${body.code.replace(/_/g, '-')}` } : body;
}

type Extra = { param?: string; code?: string };

/** A request Stripe rejects while validating params (not stored for idempotency). */
export function invalidParam(message: string, extra: Extra = {}): ApiError {
  return new ApiError(400, withDocUrl({ type: 'invalid_request_error', message, ...extra }), false);
}

/** A request Stripe accepted but refused while executing (stored for idempotency). */
export function refused(message: string, extra: Extra = {}): ApiError {
  return new ApiError(400, withDocUrl({ type: 'invalid_request_error', message, ...extra }), true);
}

export function missingParam(param: string): ApiError {
  return invalidParam(`Missing required param: ${param}.`, { param, code: 'parameter_missing' });
}

export function noSuch(objectName: string, id: string, param: string): ApiError {
  return new ApiError(
    404,
    withDocUrl({ type: 'invalid_request_error', code: 'resource_missing', message: `No such ${objectName}: '${id}'`, param }),
  );
}

/** A scenario asked for something the object's state does not allow: a bug in the caller, not an API answer. */
export class ScenarioError extends Error {
  constructor(message: string) {
    super(`stripe-emulator: ${message}`);
  }
}
