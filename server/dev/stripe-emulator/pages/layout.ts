/** The emulator's pages: plain server-rendered HTML, every interpolated value escaped, no script. */
import { escapeHtml } from '../../../services/email/html-escape.js';
import { formatAmount } from '../ids.js';
import type { PageResponse } from '../http-server.js';

export { escapeHtml };

export const money = (amountMinor: number | null, currency: string | null): string =>
  escapeHtml(formatAmount(amountMinor ?? 0, currency ?? 'usd'));

export function page(title: string, body: string, status = 200): PageResponse {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #1a1f36; }
  .banner { background: #fff4d6; border: 1px solid #f0c36d; padding: .5rem .75rem; border-radius: 6px; font-size: .9rem; }
  .error { background: #fde8e8; border: 1px solid #e9a5a5; padding: .5rem .75rem; border-radius: 6px; }
  table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
  th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e3e8ee; vertical-align: top; }
  td.num, th.num { text-align: right; }
  form.actions { display: flex; flex-direction: column; gap: .5rem; max-width: 22rem; }
  button { font: inherit; padding: .55rem 1rem; border-radius: 6px; border: 1px solid #635bff; background: #635bff; color: #fff; cursor: pointer; }
  button.secondary { background: #fff; color: #635bff; }
  code { font-size: .85rem; }
</style>
</head>
<body>
<p class="banner" role="note">Stripe emulator: test mode, no real money. Nothing here talks to Stripe.</p>
${body}
</body>
</html>
`;
  return { status, headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }, body: html };
}

/** After a form POST: 303 so a reload does not post again. */
export const redirect = (location: string): PageResponse => ({ status: 303, headers: { Location: location }, body: '' });

export const notFound = (what: string): PageResponse => page('Not found', `<h1>Not found</h1><p>${escapeHtml(what)}</p>`, 404);
