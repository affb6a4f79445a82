import { randomBytes } from 'node:crypto';

const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** n base-62 characters, the alphabet of Stripe's ids. */
export function rand(n = 24): string {
  let s = '';
  for (const b of randomBytes(n)) s += B62[b % 62];
  return s;
}

export const newId = (prefix: string): string => `${prefix}_${rand(24)}`;
export const nowSec = (): number => Math.floor(Date.now() / 1000);
export const clone = <T>(v: T): T => structuredClone(v);

const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);

/** How Stripe writes an amount in its messages: `$12.00`, `SAR 950.00`. */
export function formatAmount(amount: number, currency: string): string {
  const major = ZERO_DECIMAL.has(currency) ? String(amount) : (amount / 100).toFixed(2);
  return currency === 'usd' ? `$${major}` : `${currency.toUpperCase()} ${major}`;
}
