import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../server/lib/canonical-json.js';
import { fingerprint } from '../../server/services/idempotency.js';

// The idempotency fingerprint is sha256(canonicalJson(input)): two inputs that mean the same must give
// the same text, and two that differ must not, or a retry is refused as a mismatch (or, worse, a
// different request is answered with a stored response).
describe('canonicalJson', () => {
  it('sorts object keys at every depth', () => {
    const a = { flightId: 7, passengers: [{ lastName: 'Al-Harbi', firstName: 'Noura' }], meta: { z: 1, a: { y: 2, b: 3 } } };
    const b = { meta: { a: { b: 3, y: 2 }, z: 1 }, passengers: [{ firstName: 'Noura', lastName: 'Al-Harbi' }], flightId: 7 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"flightId":7,"meta":{"a":{"b":3,"y":2},"z":1},"passengers":[{"firstName":"Noura","lastName":"Al-Harbi"}]}');
  });

  it('keeps array order: two passengers swapped are a different booking request', () => {
    const first = [{ firstName: 'Noura' }, { firstName: 'Sara' }];
    expect(canonicalJson(first)).not.toBe(canonicalJson([...first].reverse()));
  });

  it('sorts keys by code unit, not by locale (the same order on every machine)', () => {
    expect(canonicalJson({ b: 1, B: 2, a: 3, é: 4, '10': 5, '9': 6 })).toBe('{"10":5,"9":6,"B":2,"a":3,"b":1,"é":4}');
  });

  it('drops undefined properties, as JSON does, so { reason: undefined } equals {}', () => {
    expect(canonicalJson({ bookingId: 1, reason: undefined })).toBe(canonicalJson({ bookingId: 1 }));
    expect(canonicalJson([1, undefined])).toBe('[1,null]');
    expect(canonicalJson(undefined)).toBe('null');
  });

  it('tells types apart: 1 is not "1", null is not absent, [] is not {}', () => {
    expect(canonicalJson({ id: 1 })).not.toBe(canonicalJson({ id: '1' }));
    expect(canonicalJson({ reason: null })).not.toBe(canonicalJson({}));
    expect(canonicalJson([])).not.toBe(canonicalJson({}));
  });

  it('writes a Date as its ISO string, and escapes strings as JSON does', () => {
    expect(canonicalJson({ at: new Date('2030-01-15T09:30:00.000Z') })).toBe('{"at":"2030-01-15T09:30:00.000Z"}');
    expect(canonicalJson({ 'a"b': 'line\nبريد "x"' })).toBe(JSON.stringify({ 'a"b': 'line\nبريد "x"' }));
  });

  it('is valid JSON that parses back to the same value', () => {
    const value = { z: [1, 2.5, -3, true, false, null, 'x'], a: { nested: { deep: ['ü', { k: 0 }] } } };
    expect(JSON.parse(canonicalJson(value))).toEqual(value);
  });
});

describe('fingerprint', () => {
  it('is the same for the same input in another key order, and differs when a value changes', () => {
    const input = { bookingId: 42, reason: 'changed plans' };
    expect(fingerprint(input)).toBe(fingerprint({ reason: 'changed plans', bookingId: 42 }));
    expect(fingerprint(input)).not.toBe(fingerprint({ ...input, bookingId: 43 }));
    expect(fingerprint(input)).toMatch(/^[0-9a-f]{64}$/);
  });
});
