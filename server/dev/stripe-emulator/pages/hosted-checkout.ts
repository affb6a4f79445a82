/**
 * The hosted Checkout page a session's `url` opens: the line items and total, and one button per way
 * a customer can pay or leave. Each button posts a form; the scenario runs and its events go out as
 * webhooks; the browser is sent on to success_url or cancel_url, as Stripe's page does.
 */
import type Stripe from 'stripe';
import type { PageRequest, PageResponse } from '../http-server.js';
import type { StripeEmulator } from '../index.js';
import { escapeHtml, money, notFound, page, redirect } from './layout.js';

export const CHECKOUT_ACTIONS = {
  pay: 'Pay',
  decline: 'Pay with a declined card',
  'bank-transfer': 'Pay by bank transfer',
  cancel: 'Cancel',
} as const;
type Action = keyof typeof CHECKOUT_ACTIONS;
const isAction = (v: string): v is Action => Object.hasOwn(CHECKOUT_ACTIONS, v);

/** Stripe fills {CHECKOUT_SESSION_ID} in success_url with the session's id. */
const successUrlOf = (s: Stripe.Checkout.Session): string => (s.success_url ?? '/').replaceAll('{CHECKOUT_SESSION_ID}', s.id);

function renderSession(emulator: StripeEmulator, s: Stripe.Checkout.Session, notice: string | null): PageResponse {
  const items = emulator
    .lineItemsOf(s.id)
    .map(
      (li) =>
        `<tr><td>${escapeHtml(li.description ?? '')}</td><td class="num">${li.quantity ?? 0}</td>` +
        `<td class="num">${money(li.price?.unit_amount ?? 0, li.currency)}</td><td class="num">${money(li.amount_total, li.currency)}</td></tr>`,
    )
    .join('\n');
  const actions = (Object.entries(CHECKOUT_ACTIONS) as [Action, string][])
    .map(([action, label]) => `<button type="submit" formaction="/c/pay/${escapeHtml(s.id)}/${action}"${action === 'pay' ? '' : ' class="secondary"'}>${escapeHtml(label)}</button>`)
    .join('\n  ');
  const body = `<h1>Pay ${money(s.amount_total, s.currency)}</h1>
${notice ? `<p class="error" role="alert">${escapeHtml(notice)}</p>` : ''}
<table aria-label="Line items">
<thead><tr><th>Item</th><th class="num">Qty</th><th class="num">Unit price</th><th class="num">Amount</th></tr></thead>
<tbody>
${items}
</tbody>
<tfoot><tr><th colspan="3">Total</th><th class="num" data-testid="total">${money(s.amount_total, s.currency)}</th></tr></tfoot>
</table>
<p>Card 4242 4242 4242 4242 pays; a declined card fails and leaves this page open; a bank transfer completes now and settles a few seconds later.</p>
<form class="actions" method="post" action="/c/pay/${escapeHtml(s.id)}/pay">
  ${actions}
</form>`;
  return page(`Pay ${s.id}`, body);
}

/** An expired or already paid session: Stripe's page says so instead of taking money twice. */
function closedSession(s: Stripe.Checkout.Session): PageResponse {
  const what = s.status === 'complete' ? 'This payment is complete.' : 'This Checkout Session has expired.';
  const back = s.status === 'complete' ? successUrlOf(s) : s.cancel_url;
  return page('Checkout closed', `<h1>${escapeHtml(what)}</h1>${back ? `<p><a href="${escapeHtml(back)}">Back to the shop</a></p>` : ''}`, 410);
}

export function hostedCheckout(emulator: StripeEmulator, opts: { settleLater: (sessionId: string) => void }) {
  return async (req: PageRequest): Promise<PageResponse | null> => {
    const m = /^\/c\/pay\/(cs_[A-Za-z0-9_]+)(?:\/([a-z-]+))?$/.exec(req.url.pathname);
    if (!m) return null;
    const [, id = '', action] = m;
    const session = emulator.sessions.get(id);
    if (!session) return notFound(`No such Checkout Session: ${id}`);
    if (req.method === 'GET' && action === undefined) {
      return session.status === 'open' ? renderSession(emulator, session, req.url.searchParams.get('declined') ? 'Your card was declined.' : null) : closedSession(session);
    }
    if (req.method !== 'POST' || action === undefined || !isAction(action)) return null;
    if (action === 'cancel') return redirect(session.cancel_url ?? session.success_url ?? '/');
    if (session.status !== 'open') return closedSession(session);
    switch (action) {
      case 'pay':
        emulator.completeSession(id);
        return redirect(successUrlOf(session));
      case 'bank-transfer':
        emulator.completeSession(id, { async: true });
        opts.settleLater(id);
        return redirect(successUrlOf(session));
      case 'decline':
        emulator.failPayment(id);
        return redirect(`/c/pay/${id}?declined=1`);
    }
  };
}
