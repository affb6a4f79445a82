/** Rendering an object for a response: a copy, with the `expand[]` paths the request asked for. */
import { invalidParam } from './errors.js';
import { clone } from './ids.js';
import { asArray, isAbsent, isPlainObject, parseString, type Params } from './params.js';
import { sessionExtrasOf, type EmulatorState } from './state.js';

function lookupById(state: EmulatorState, id: string): object | undefined {
  if (id.startsWith('pi_')) return state.paymentIntents.get(id);
  if (id.startsWith('ch_')) return state.charges.get(id);
  if (id.startsWith('re_')) return state.refunds.get(id);
  if (id.startsWith('cs_')) return state.sessions.get(id);
  if (id.startsWith('dp_')) return state.disputes.get(id);
  return undefined;
}

function expandPath(state: EmulatorState, obj: unknown, segments: string[], full: string): void {
  if (obj === null || typeof obj !== 'object') return;
  const [head, ...rest] = segments;
  if (head === undefined) return;
  if (Array.isArray(obj)) {
    for (const item of obj) expandPath(state, item, segments, full);
    return;
  }
  if (!isPlainObject(obj)) return;
  const cannot = () => invalidParam(`This property cannot be expanded (${full}).`, { param: 'expand' });
  if (rest.length === 0) {
    if (obj.object === 'checkout.session' && head === 'line_items' && typeof obj.id === 'string') {
      const data = sessionExtrasOf(state, obj.id).lineItems;
      obj.line_items = clone({ object: 'list', data, has_more: false, url: `/v1/checkout/sessions/${obj.id}/line_items` });
      return;
    }
    const value = obj[head];
    if (value === null) return;
    if (typeof value === 'string') {
      const found = lookupById(state, value);
      if (!found) throw cannot();
      obj[head] = clone(found);
      return;
    }
    if (typeof value === 'object' && value !== undefined) return; // already expanded
    throw cannot();
  }
  if (!(head in obj)) throw cannot();
  if (typeof obj[head] === 'string') expandPath(state, obj, [head], full); // 'a.b' expands 'a' first
  expandPath(state, obj[head], rest, full);
}

export function render<T>(state: EmulatorState, obj: T, p: Params): T {
  const out = clone(obj);
  const expand = isAbsent(p.expand) ? [] : asArray(p.expand);
  if (!expand) throw invalidParam('Invalid array', { param: 'expand' });
  for (const e of expand) {
    const path = parseString(e, 'expand', 500);
    const segments = path.split('.');
    if (segments.length > 4) throw invalidParam(`You cannot expand more than 4 levels of a property. Property: ${path}`, { param: 'expand' });
    expandPath(state, out, segments, path);
  }
  return out;
}
