/**
 * Form-encoded params as Stripe reads them. Everything arrives from qs as strings, arrays or plain
 * objects; each parser either returns a typed value or throws Stripe's 400 for that param.
 */
import { invalidParam, missingParam, noSuch } from './errors.js';

export type Params = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Params {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const isAbsent = (v: unknown): boolean => v === undefined || v === '';

export function asArray(v: unknown): unknown[] | undefined {
  if (Array.isArray(v)) return v;
  // qs turns sparse or very large indexed arrays into objects keyed by index
  if (isPlainObject(v) && Object.keys(v).every((k) => /^\d+$/.test(k))) {
    return Object.keys(v)
      .sort((a, b) => Number(a) - Number(b))
      .map((k) => v[k]);
  }
  return undefined;
}

export function parseObject(v: unknown, param: string): Params {
  if (!isPlainObject(v)) throw invalidParam('Invalid object', { param });
  return v;
}

export function parseInteger(v: unknown, param: string, min?: number): number {
  if (typeof v !== 'string' || !/^-?\d+$/.test(v.trim())) {
    const shown = typeof v === 'string' ? v : JSON.stringify(v);
    throw invalidParam(`Invalid integer: ${shown}`, { param, code: 'parameter_invalid_integer' });
  }
  const n = Number.parseInt(v.trim(), 10);
  if (!Number.isSafeInteger(n)) throw invalidParam(`Invalid integer: ${v}`, { param, code: 'parameter_invalid_integer' });
  if (min !== undefined && n < min) {
    throw invalidParam(`This value must be greater than or equal to ${min}.`, { param, code: 'parameter_invalid_integer' });
  }
  return n;
}

export function parseString(v: unknown, param: string, maxLength = 5000): string {
  if (typeof v !== 'string') throw invalidParam(`Invalid string: ${JSON.stringify(v)}`, { param, code: 'parameter_invalid_string' });
  if (v.length > maxLength) {
    throw invalidParam(`Invalid string: ${v.slice(0, 20)}...; must be at most ${maxLength} characters`, {
      param,
      code: 'parameter_invalid_string',
    });
  }
  return v;
}

export function parseOptionalString(v: unknown, param: string, maxLength?: number): string | null {
  return isAbsent(v) ? null : parseString(v, param, maxLength);
}

/** Stripe's booleans arrive form-encoded as "true" / "false". */
export function parseBoolean(v: unknown, param: string): boolean {
  if (v === 'true' || v === true) return true;
  if (v === 'false' || v === false) return false;
  throw invalidParam(`Invalid boolean: ${typeof v === 'string' ? v : JSON.stringify(v)}`, { param });
}

export function parseMetadata(v: unknown, param: string): Record<string, string> {
  if (isAbsent(v)) return {};
  if (!isPlainObject(v)) throw invalidParam('Invalid object', { param, code: 'parameter_invalid_empty' });
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') throw invalidParam(`Invalid value type: ${JSON.stringify(value)} must be a string`, { param: `${param}[${k}]` });
    if (k.length > 40) throw invalidParam(`Metadata keys can have up to 40 characters. The key '${k}' is too long.`, { param });
    if (value.length > 500) {
      throw invalidParam(`Metadata values can have up to 500 characters, but you passed in a value that is ${value.length} characters.`, {
        param: `${param}[${k}]`,
      });
    }
    if (value !== '') out[k] = value; // '' unsets a key
  }
  if (Object.keys(out).length > 50) throw invalidParam('You can only specify up to 50 metadata keys.', { param });
  return out;
}

export function parseEnum<T extends string>(v: unknown, param: string, allowed: readonly T[]): T | null {
  if (isAbsent(v)) return null;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw invalidParam(`Invalid ${param}: must be one of ${allowed.join(', ')}`, { param });
  }
  return v as T;
}

export function parseUrl(v: unknown, param: string): string {
  const s = parseString(v, param, 5000);
  let ok = false;
  try {
    const u = new URL(s);
    ok = u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    ok = false;
  }
  if (!ok) throw invalidParam('Not a valid URL', { param, code: 'url_invalid' });
  return s;
}

export function parseCurrency(v: unknown, param: string): string {
  if (isAbsent(v)) throw missingParam(param);
  if (typeof v !== 'string' || !/^[a-zA-Z]{3}$/.test(v)) {
    throw invalidParam(`Invalid currency: ${String(v)}. Stripe currently supports these currencies: usd, aed, eur, gbp, sar, ...`, { param });
  }
  return v.toLowerCase();
}

/** Anything Stripe does not accept is `parameter_unknown`, like Stripe. */
export function rejectUnknown(p: Params, allowed: readonly string[], prefix = ''): void {
  for (const k of Object.keys(p)) {
    if (!allowed.includes(k)) {
      const param = prefix ? `${prefix}[${k}]` : k;
      throw invalidParam(`Received unknown parameter: ${param}`, { param, code: 'parameter_unknown' });
    }
  }
}

interface CreatedFilter {
  gt?: number;
  gte?: number;
  lt?: number;
  lte?: number;
}

export function parseCreatedFilter(v: unknown, param = 'created'): CreatedFilter | null {
  if (isAbsent(v)) return null;
  if (typeof v === 'string') {
    const n = parseInteger(v, param);
    return { gte: n, lte: n };
  }
  const o = parseObject(v, param);
  rejectUnknown(o, ['gt', 'gte', 'lt', 'lte'], param);
  const f: CreatedFilter = {};
  for (const k of ['gt', 'gte', 'lt', 'lte'] as const) if (o[k] !== undefined) f[k] = parseInteger(o[k], `${param}[${k}]`);
  return f;
}

export function matchesCreated(created: number, f: CreatedFilter | null): boolean {
  if (!f) return true;
  if (f.gt !== undefined && !(created > f.gt)) return false;
  if (f.gte !== undefined && !(created >= f.gte)) return false;
  if (f.lt !== undefined && !(created < f.lt)) return false;
  if (f.lte !== undefined && !(created <= f.lte)) return false;
  return true;
}

export const LIST_PARAMS = ['limit', 'starting_after', 'ending_before', 'expand', 'created'];

export interface List<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
}

/** Stripe's cursor pagination over items already ordered newest first. */
export function paginate<T extends { id: string }>(items: T[], p: Params, url: string, objectName: string): List<T> {
  const limit = isAbsent(p.limit) ? 10 : parseInteger(p.limit, 'limit', 1);
  if (limit > 100) throw invalidParam('This value must be less than or equal to 100.', { param: 'limit', code: 'parameter_invalid_integer' });
  if (p.starting_after !== undefined && p.ending_before !== undefined) {
    throw invalidParam('You may only specify one of these parameters: ending_before, starting_after.', { param: 'ending_before' });
  }
  const indexOf = (param: 'starting_after' | 'ending_before'): number => {
    const id = parseString(p[param], param);
    const idx = items.findIndex((o) => o.id === id);
    if (idx < 0) throw noSuch(objectName, id, param);
    return idx;
  };
  if (!isAbsent(p.ending_before)) {
    const rest = items.slice(0, indexOf('ending_before'));
    return { object: 'list', data: rest.slice(Math.max(0, rest.length - limit)), has_more: rest.length > limit, url };
  }
  const rest = isAbsent(p.starting_after) ? items : items.slice(indexOf('starting_after') + 1);
  return { object: 'list', data: rest.slice(0, limit), has_more: rest.length > limit, url };
}

/** A stable serialization of params: the same request twice compares equal for idempotency. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
