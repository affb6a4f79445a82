/** Stripe's REST endpoints that the app uses, over the emulator's state. */
import type Stripe from 'stripe';
import { invalidParam, noSuch, refused } from './errors.js';
import { render } from './expand.js';
import { createSession, expireSession } from './objects/checkout-session.js';
import { createRefund } from './objects/refund.js';
import {
  asArray,
  isAbsent,
  LIST_PARAMS,
  matchesCreated,
  paginate,
  parseCreatedFilter,
  parseString,
  rejectUnknown,
  type Params,
} from './params.js';
import { sessionExtrasOf, type EmulatorState, type RequestContext } from './state.js';

export type ApiHandler = (id: string, p: Params, ctx: RequestContext) => unknown;
export interface ApiRoute {
  method: 'GET' | 'POST';
  re: RegExp;
  handler: ApiHandler;
}

export function apiRoutes(state: EmulatorState, publicUrl: () => string): ApiRoute[] {
  const routes: ApiRoute[] = [];
  const route = (method: ApiRoute['method'], pattern: string, handler: ApiHandler) =>
    routes.push({ method, re: new RegExp(`^${pattern.replace(/:id/g, '([^/]+)')}$`), handler });
  const get = <T>(map: Map<string, T>, id: string, objectName: string, param: string): T => {
    const found = map.get(id);
    if (!found) throw noSuch(objectName, id, param);
    return found;
  };
  /** A list endpoint: newest first, created filter, the endpoint's own filters, Stripe's pagination. */
  const list = <T extends { id: string; created: number }>(
    path: string,
    objectName: string,
    items: () => Iterable<T>,
    filters: Record<string, (item: T, value: unknown) => boolean>,
  ) =>
    route('GET', path, (_id, p) => {
      rejectUnknown(p, [...LIST_PARAMS, ...Object.keys(filters)]);
      const created = parseCreatedFilter(p.created);
      const rows = [...items()]
        .reverse()
        .filter((x) => matchesCreated(x.created, created))
        .filter((x) => Object.entries(filters).every(([k, match]) => p[k] === undefined || match(x, p[k])));
      return render(state, paginate(rows, p, path, objectName), p);
    });
  const ignored = () => true; // accepted by Stripe, irrelevant here

  route('POST', '/v1/checkout/sessions', (_id, p) => render(state, createSession(state, p, publicUrl()), p));
  list('/v1/checkout/sessions', 'checkout.session', () => state.sessions.values(), {
    payment_intent: (s, v) => s.payment_intent === v,
    status: (s, v) => s.status === v,
    customer: ignored,
    customer_details: ignored,
    payment_link: ignored,
    subscription: ignored,
  });
  route('GET', '/v1/checkout/sessions/:id', (id, p) => render(state, get(state.sessions, id, 'checkout.session', 'session'), p));
  route('GET', '/v1/checkout/sessions/:id/line_items', (id, p) => {
    const s = get(state.sessions, id, 'checkout.session', 'session');
    const items = sessionExtrasOf(state, s.id).lineItems.slice();
    return render(state, paginate(items, p, `/v1/checkout/sessions/${s.id}/line_items`, 'line_item'), p);
  });
  route('POST', '/v1/checkout/sessions/:id/expire', (id, p, ctx) => {
    rejectUnknown(p, ['expand']);
    const s = get(state.sessions, id, 'checkout.session', 'session');
    if (s.status !== 'open') {
      throw refused(`Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of \`${s.status}\`.`);
    }
    expireSession(state, s, ctx);
    return render(state, s, p);
  });

  list('/v1/payment_intents', 'payment_intent', () => state.paymentIntents.values(), {
    customer: (x, v) => x.customer === v,
    customer_account: ignored,
  });
  route('GET', '/v1/payment_intents/:id', (id, p) => render(state, get(state.paymentIntents, id, 'payment_intent', 'intent'), p));

  list('/v1/charges', 'charge', () => state.charges.values(), {
    payment_intent: (x, v) => x.payment_intent === v,
    customer: ignored,
    transfer_group: ignored,
  });
  route('GET', '/v1/charges/:id', (id, p) => render(state, get(state.charges, id, 'charge', 'charge'), p));

  route('POST', '/v1/refunds', (_id, p, ctx) => render(state, createRefund(state, p, ctx).refund, p));
  list('/v1/refunds', 'refund', () => state.refunds.values(), {
    payment_intent: (x, v) => x.payment_intent === v,
    charge: (x, v) => x.charge === v,
  });
  route('GET', '/v1/refunds/:id', (id, p) => render(state, get(state.refunds, id, 'refund', 'refund'), p));

  route('GET', '/v1/events', (_id, p) => {
    rejectUnknown(p, [...LIST_PARAMS, 'type', 'types', 'delivery_success']);
    if (p.type !== undefined && p.types !== undefined) {
      throw invalidParam('You may only specify one of these parameters: type, types.', { param: 'types' });
    }
    const created = parseCreatedFilter(p.created);
    const typeMatch = eventTypeMatcher(p);
    const rows = state.events
      .slice(state.eventsAgedOut)
      .reverse()
      .filter((e) => matchesCreated(e.created, created))
      .filter((e) => typeMatch(e.type));
    return render(state, paginate(rows, p, '/v1/events', 'event'), p);
  });
  route('GET', '/v1/events/:id', (id, p) => render(state, get(state.eventsById, id, 'event', 'id'), p));
  return routes;
}

/** `type` takes one type with `*` wildcards (`charge.*`); `types` takes a list of exact types. */
function eventTypeMatcher(p: Params): (type: Stripe.Event['type']) => boolean {
  if (!isAbsent(p.type)) {
    const t = parseString(p.type, 'type');
    const re = new RegExp(`^${t.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    return (x) => re.test(x);
  }
  if (!isAbsent(p.types)) {
    const types = asArray(p.types);
    if (!types) throw invalidParam('Invalid array', { param: 'types' });
    const set = new Set(types.map(String));
    return (x) => set.has(x);
  }
  return () => true;
}
