/**
 * What must never reach a log line or an error report: bound query parameters (drizzle puts them in
 * its error message and `.params`, mysql2 inlines them into `.sql`), passwords and their hashes,
 * tokens, keys, e-mail addresses and card-like numbers. Used by the logger's `err` serializer
 * (lib/logger.ts) and by Sentry's `beforeSend` (lib/sentry.ts); structured fields are also covered by
 * pino's `redact` paths.
 */

/** Keys whose values are dropped wherever they appear (compared case-insensitively, `-`/`_` ignored). */
const SECRET_KEYS = new Set(
  [
    'password', 'newPassword', 'currentPassword', 'passwordHash', 'hash',
    'token', 'accessToken', 'refreshToken', 'idToken', 'authorization', 'cookie', 'setCookie',
    'secret', 'clientSecret', 'apiKey', 'pepper', 'jwtSecret', 'stripeSignature',
    'card', 'cardNumber', 'pan', 'cvc', 'cvv',
    // drizzle's bound parameters, and mysql2's statement with the values inlined
    'params', 'sql',
  ].map(normaliseKey),
);

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(normaliseKey(key));
}

export const REDACTED = '[redacted]';

/** A digit run that passes the Luhn check: a card number, as far as a log can tell. */
function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

const TEXT_RULES: [RegExp, string | ((match: string) => string)][] = [
  // drizzle: "Failed query: <sql>\nparams: <every bound value>" (up to the stack, when there is one)
  [/\nparams: [\s\S]*?(?=\n\s+at |$)/g, `\nparams: ${REDACTED}`],
  // MySQL echoes the offending value: Duplicate entry 'a@b.c' for key ..., Incorrect string value: '...'
  [/(Duplicate entry |Incorrect [\w ]+ value: |Data truncated for column [^ ]+ at row \d+: )'(?:[^'\\]|\\.)*'/g, `$1'${REDACTED}'`],
  [/\$argon2(?:id|i|d)\$[^\s'",)]*/g, '[hash]'],
  [/\beyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[token]'],
  [/\bBearer\s+[\w.~+/=-]+/gi, `Bearer ${REDACTED}`],
  [/\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]+/g, '[stripe-key]'],
  [/\bwhsec_[A-Za-z0-9+/=]+/g, '[webhook-secret]'],
  [/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g, '[email]'],
  [/\b\d(?:[ -]?\d){12,18}\b/g, (m) => (luhn(m.replace(/[ -]/g, '')) ? '[card]' : m)],
];

export function scrubText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of TEXT_RULES) out = out.replace(pattern, replacement as string);
  return out;
}

/** A copy with secret keys dropped and every string scrubbed. Errors keep their class (for stack parsers and serializers). */
export function scrubValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 12) return '[depth]';
  if (value instanceof Error) return scrubError(value, depth);
  if (value instanceof Date || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) ? REDACTED : scrubValue(v, depth + 1);
  return out;
}

/**
 * The error as it may be logged or reported: same class and fields, messages and stacks scrubbed,
 * `params`/`sql` dropped, causes scrubbed the same way.
 */
export function scrubError<E extends Error>(err: E, depth = 0): E {
  const copy = Object.create(Object.getPrototypeOf(err) as object) as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(err)) {
    const v = (err as unknown as Record<string, unknown>)[key];
    if (key === 'message' || key === 'stack') copy[key] = typeof v === 'string' ? scrubText(v) : v;
    else if (isSecretKey(key)) copy[key] = REDACTED;
    else copy[key] = scrubValue(v, depth + 1);
  }
  return copy as unknown as E;
}
