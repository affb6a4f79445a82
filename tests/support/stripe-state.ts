import type Stripe from 'stripe';
import type { StripeEmulator } from '../../server/dev/stripe-emulator/index.js';
import type { EventOf, EventType } from '../../server/dev/stripe-emulator/state.js';

/** Reading the emulator's state in assertions: a missing object fails the test with its id. */

export const idOf = (v: string | { id: string } | null | undefined): string => {
  if (!v) throw new Error('expected an id or an expanded object');
  return typeof v === 'string' ? v : v.id;
};

function found<T>(map: Map<string, T>, id: string | { id: string } | null | undefined, what: string): T {
  const value = map.get(idOf(id));
  if (!value) throw new Error(`the Stripe emulator has no ${what} ${String(id)}`);
  return value;
}

type Ref<T> = string | T | null | undefined;

export const sessionAt = (s: StripeEmulator, id: string) => found(s.sessions, id, 'checkout session');
export const paymentIntentAt = (s: StripeEmulator, id: Ref<Stripe.PaymentIntent>) => found(s.paymentIntents, id, 'payment intent');
export const chargeAt = (s: StripeEmulator, id: Ref<Stripe.Charge>) => found(s.charges, id, 'charge');
/** The payment intent of a paid (or paying) Checkout Session. */
export const paymentIntentIdOf = (s: StripeEmulator, sessionId: string): string => idOf(sessionAt(s, sessionId).payment_intent);

/** The first event of this type in `events`, typed by its type. */
export function eventOf<T extends EventType>(events: Stripe.Event[], type: T): EventOf<T> {
  const e = events.find((x): x is EventOf<T> => x.type === type);
  if (!e) throw new Error(`no ${type} event among ${events.map((x) => x.type).join(', ')}`);
  return e;
}

/** The id of the object an event is about (every object this app receives has one). */
export const eventObjectId = (e: Stripe.Event): string | undefined => {
  const object: object = e.data.object;
  return 'id' in object && typeof object.id === 'string' ? object.id : undefined;
};
