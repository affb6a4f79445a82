/**
 * A small Dashboard: payments (with a Refund button, a refund the app did not ask for, and a Dispute
 * button), refunds, and the event log with the HTTP status of each webhook delivery.
 */
import type Stripe from 'stripe';
import { ScenarioError } from '../errors.js';
import type { PageRequest, PageResponse } from '../http-server.js';
import type { StripeEmulator } from '../index.js';
import { escapeHtml, money, page, redirect } from './layout.js';

const when = (unixSeconds: number): string => new Date(unixSeconds * 1000).toISOString().replace('T', ' ').slice(0, 19);
const newestFirst = <T extends { created: number }>(items: Iterable<T>): T[] => [...items].reverse();

function paymentRow(emulator: StripeEmulator, pi: Stripe.PaymentIntent): string {
  const charge = typeof pi.latest_charge === 'string' ? emulator.charges.get(pi.latest_charge) : undefined;
  const refundable = charge?.status === 'succeeded' && charge.amount_captured > charge.amount_refunded;
  const buttons = refundable
    ? `<form method="post" action="/dashboard/payments/${escapeHtml(pi.id)}/refund" style="display:inline"><button type="submit">Refund</button></form>` +
      (charge.disputed ? '' : ` <form method="post" action="/dashboard/payments/${escapeHtml(pi.id)}/dispute" style="display:inline"><button type="submit" class="secondary">Dispute</button></form>`)
    : '';
  return `<tr><td><code>${escapeHtml(pi.id)}</code></td><td>${when(pi.created)}</td><td>${escapeHtml(pi.metadata.bookingId ?? '')}</td>
<td class="num">${money(pi.amount, pi.currency)}</td><td class="num">${money(charge?.amount_refunded ?? 0, pi.currency)}</td>
<td>${escapeHtml(pi.status)}${charge?.disputed ? ', disputed' : ''}</td><td>${buttons}</td></tr>`;
}

function render(emulator: StripeEmulator, notice: string | null): PageResponse {
  const payments = newestFirst(emulator.paymentIntents.values()).map((pi) => paymentRow(emulator, pi));
  const refunds = newestFirst(emulator.refunds.values()).map(
    (r) =>
      `<tr><td><code>${escapeHtml(r.id)}</code></td><td>${when(r.created)}</td><td><code>${escapeHtml(String(r.payment_intent ?? ''))}</code></td>` +
      `<td class="num">${money(r.amount, r.currency)}</td><td>${escapeHtml(r.status ?? '')}</td><td>${escapeHtml(r.reason ?? '')}</td></tr>`,
  );
  const events = newestFirst(emulator.events).map((e) => {
    const deliveries = emulator.deliveries.filter((d) => d.eventId === e.id);
    const statuses = deliveries.map((d) => escapeHtml(d.status === 0 ? `failed: ${d.error ?? 'no answer'}` : String(d.status))).join(', ');
    return `<tr><td><code>${escapeHtml(e.id)}</code></td><td>${when(e.created)}</td><td>${escapeHtml(e.type)}</td><td>${statuses || 'not delivered'}</td></tr>`;
  });
  const table = (label: string, head: string[], rows: string[]) =>
    `<table aria-label="${label}"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>
${rows.join('\n') || `<tr><td colspan="${head.length}">None yet.</td></tr>`}
</tbody></table>`;
  const body = `<h1>Dashboard</h1>
${notice ? `<p class="error" role="alert">${escapeHtml(notice)}</p>` : ''}
<h2>Payments</h2>
${table('Payments', ['Payment', 'Created (UTC)', 'Booking', 'Amount', 'Refunded', 'Status', ''], payments)}
<h2>Refunds</h2>
${table('Refunds', ['Refund', 'Created (UTC)', 'Payment', 'Amount', 'Status', 'Reason'], refunds)}
<h2>Events</h2>
${table('Events', ['Event', 'Created (UTC)', 'Type', 'Webhook deliveries (HTTP status)'], events)}`;
  return page('Stripe emulator dashboard', body);
}

export function dashboard(emulator: StripeEmulator) {
  return async (req: PageRequest): Promise<PageResponse | null> => {
    if (req.method === 'GET' && (req.url.pathname === '/' || req.url.pathname === '/dashboard')) {
      return render(emulator, req.url.searchParams.get('notice'));
    }
    const m = /^\/dashboard\/payments\/(pi_[A-Za-z0-9]+)\/(refund|dispute)$/.exec(req.url.pathname);
    if (req.method !== 'POST' || !m) return null;
    const [, paymentIntentId = '', action] = m;
    try {
      if (action === 'refund') emulator.refundFromDashboard(paymentIntentId);
      else emulator.openDispute(paymentIntentId);
    } catch (err) {
      if (!(err instanceof ScenarioError)) throw err;
      return redirect(`/dashboard?notice=${encodeURIComponent(err.message)}`);
    }
    return redirect('/dashboard');
  };
}
