/// <reference lib="dom" />
/**
 * The demo page's one script, bundled by esbuild when the API starts. It shows what a real frontend
 * must handle: an idempotency key per intent, reused on every retry of it; IDEMPOTENCY_IN_PROGRESS and
 * lost answers retried with that same key; SOLD_OUT shown, not retried; the booking's status polled
 * until Stripe's webhooks have confirmed it (the redirect back from Checkout proves nothing).
 */
import { appCodeOf, createApiClient, type RouterOutputs } from '../../client.js';

type Booking = RouterOutputs['bookings']['byId'];
interface Session {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
  user: { name: string; email: string };
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const say = (text: string) => ($('message').textContent = text);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const money = (minor: number, currency: string) => new Intl.NumberFormat('en', { style: 'currency', currency }).format(minor / 100);

let session: Session | null = JSON.parse(sessionStorage.getItem('demo-session') ?? 'null') as Session | null;
function keep(next: Session | null): void {
  session = next;
  if (next) sessionStorage.setItem('demo-session', JSON.stringify(next));
  else sessionStorage.removeItem('demo-session');
}

async function rest<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`/api/mobile/v1${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as T & { error?: { code: string; message: string } };
  if (!res.ok) throw new Error(json.error ? `${json.error.code}: ${json.error.message}` : `HTTP ${res.status}`);
  return json;
}

/** The access token for the next call, refreshed (rotating the refresh token) shortly before it expires. */
async function accessToken(): Promise<string | null> {
  if (session && session.expiresAt - Date.now() < 30_000) {
    try {
      const t = await rest<{ accessToken: string; refreshToken: string; expiresIn: number }>('/auth/refresh', { refreshToken: session.refreshToken });
      keep({ ...session, ...t, expiresAt: Date.now() + t.expiresIn * 1000 });
    } catch {
      keep(null);
      say('Your session ended; sign in again.');
    }
  }
  return session?.accessToken ?? null;
}

const api = createApiClient(location.origin, accessToken);

/** One intent, one key: a retry after a lost answer or IDEMPOTENCY_IN_PROGRESS cannot book twice. */
async function once<T>(call: (idempotencyKey: string) => Promise<T>): Promise<T> {
  const key = crypto.randomUUID();
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(key);
    } catch (err) {
      const code = appCodeOf(err);
      const retry = code === 'IDEMPOTENCY_IN_PROGRESS' || code === undefined; // undefined: no answer reached us
      if (!retry || attempt >= 5) throw err;
      await sleep(250 * attempt);
    }
  }
}

function explain(err: unknown): string {
  switch (appCodeOf(err)) {
    case 'SOLD_OUT':
      return 'Sold out: those seats were just taken. Pick another flight.';
    case 'UNAUTHORIZED':
      return 'Sign in first.';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

function show(section: 'auth' | 'search' | 'book' | 'booking'): void {
  for (const id of ['auth', 'search', 'book', 'booking']) $(id).hidden = id !== section && !(id === 'search' && section === 'book');
  if (session) $('who').textContent = `${session.user.name} <${session.user.email}>`;
}

$('auth-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = new FormData(e.target as HTMLFormElement);
  const register = (e as SubmitEvent).submitter?.getAttribute('value') === 'register';
  const input = { email: String(form.get('email')), password: String(form.get('password')) };
  try {
    const s = await rest<Omit<Session, 'expiresAt'> & { expiresIn: number }>(
      register ? '/auth/register' : '/auth/login',
      register ? { ...input, name: String(form.get('name') || 'Traveller') } : input,
    );
    keep({ ...s, expiresAt: Date.now() + s.expiresIn * 1000 });
    say('');
    show('search');
  } catch (err) {
    say(explain(err));
  }
});

let chosen: { id: number; passengers: number } | null = null;
$('search-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = new FormData(e.target as HTMLFormElement);
  const passengers = Number(form.get('passengers'));
  try {
    const { flights } = await api.flights.search.query({
      origin: String(form.get('origin')).toUpperCase(),
      destination: String(form.get('destination')).toUpperCase(),
      date: String(form.get('date')),
      passengers,
    });
    $('results').replaceChildren(
      ...flights.map((f) => {
        const li = document.createElement('li');
        const at = new Date(f.departureAt).toLocaleString();
        li.textContent = `${f.flightNumber} ${f.origin} → ${f.destination}, ${at}, ${money(f.priceMinor, f.currency)} each, ${f.seatsAvailable} seats `;
        const button = document.createElement('button');
        button.textContent = `Book ${f.flightNumber}`;
        button.addEventListener('click', () => chooseFlight(f.id, f.flightNumber, passengers));
        li.append(button);
        return li;
      }),
    );
    say(flights.length ? '' : 'No flights with that many seats on that date.');
  } catch (err) {
    say(explain(err));
  }
});

function chooseFlight(id: number, flightNumber: string, passengers: number): void {
  chosen = { id, passengers };
  $('book-flight').textContent = flightNumber;
  $('passenger-fields').replaceChildren(
    ...Array.from({ length: passengers }, (_, i) => {
      const p = document.createElement('p');
      // Each field's label names its traveller: "Traveller 2 last name" is one field, to a screen reader too.
      p.innerHTML = `<label>Traveller ${i + 1} first name <input name="first" required></label><label>Traveller ${i + 1} last name <input name="last" required></label>`;
      return p;
    }),
  );
  show('book');
}

$('book-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!chosen) return;
  const form = new FormData(e.target as HTMLFormElement);
  const first = form.getAll('first').map(String);
  const last = form.getAll('last').map(String);
  const flightId = chosen.id;
  try {
    const booking = await once((idempotencyKey) =>
      api.bookings.create.mutate({ flightId, passengers: first.map((f, i) => ({ firstName: f, lastName: last[i] ?? '' })), idempotencyKey }),
    );
    history.pushState(null, '', `/bookings/${booking.id}`);
    await openBooking(booking.id);
  } catch (err) {
    say(explain(err));
  }
});

function render(b: Booking): void {
  $('booking-id').textContent = String(b.id);
  $('booking-status').textContent = b.status;
  $('booking-payment').textContent = b.paymentStatus;
  $('booking-total').textContent = money(b.totalMinor, b.currency);
  $('pay').hidden = b.status !== 'pending_payment';
}

$('pay').addEventListener('click', async () => {
  const id = Number($('booking-id').textContent);
  try {
    const { url } = await once((idempotencyKey) => api.payments.createCheckoutSession.mutate({ bookingId: id, idempotencyKey }));
    location.assign(url); // Stripe's hosted page (or the emulator's), then back to /bookings/:id
  } catch (err) {
    say(explain(err));
  }
});

/** Confirmation comes by webhook, after the redirect back: poll until the status settles. */
async function openBooking(id: number): Promise<void> {
  show('booking');
  const returned = new URLSearchParams(location.search).get('checkout');
  if (returned === 'cancelled') say('Payment cancelled. Your seats stay held until the hold expires.');
  if (returned === 'success') say('Payment received; waiting for Stripe to confirm it…');
  for (let i = 0; i < 240; i++) {
    const b = await api.bookings.byId.query({ id });
    render(b);
    if (b.status === 'confirmed') {
      if (returned === 'success') say('Confirmed.');
      await showEmail(id);
      return;
    }
    if (returned !== 'success' || b.status !== 'pending_payment') return;
    await sleep(1000);
  }
}

/** The worker writes the confirmation e-mail as an .eml in development; offer it once it exists. */
async function showEmail(id: number): Promise<void> {
  for (let i = 0; i < 30; i++) {
    const token = await accessToken();
    const res = await fetch(`/demo/bookings/${id}/email`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (res.ok) {
      const link = $<HTMLAnchorElement>('email-link');
      link.href = URL.createObjectURL(await res.blob());
      link.download = `booking-${id}-confirmation.eml`;
      $('email').hidden = false;
      return;
    }
    await sleep(1000);
  }
}

function route(): void {
  const m = /^\/bookings\/(\d+)$/.exec(location.pathname);
  if (!session) return show('auth');
  if (m) void openBooking(Number(m[1])).catch((err: unknown) => say(explain(err)));
  else show('search');
}
($('search-form').querySelector('[name=date]') as HTMLInputElement).value = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
window.addEventListener('popstate', route);
route();
