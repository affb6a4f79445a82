/**
 * Money and time as a traveller reads them, in English and Arabic. Pure functions: money never passes
 * through a float (minor units are split with integer arithmetic, and Intl receives an exact decimal
 * string), and times are always shown in a named IANA zone, never the server's.
 */

/** Minor digits of an ISO 4217 currency as ICU knows them: 2 for SAR, 3 for KWD, 0 for JPY. */
export function currencyMinorDigits(currency: string): number {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

/** Splits minor units into an exact decimal string: (40600, SAR) -> "406.00", (12345, KWD) -> "12.345". */
export function minorToDecimal(amountMinor: number, currency: string): `${number}` {
  if (!Number.isSafeInteger(amountMinor) || amountMinor < 0) {
    throw new RangeError(`amountMinor must be a non-negative integer of minor units, got ${amountMinor}`);
  }
  const digits = currencyMinorDigits(currency);
  const minor = BigInt(amountMinor);
  const unit = 10n ** BigInt(digits);
  const whole = (minor / unit).toString();
  if (digits === 0) return whole as `${number}`;
  return `${whole}.${(minor % unit).toString().padStart(digits, '0')}` as `${number}`;
}

/** "SAR 406.00", "SAR 1,234.50", "KWD 12.345": the ISO code first, as airlines print fares. */
export function formatMoneyEn(amountMinor: number, currency: string): string {
  const [whole, fraction] = minorToDecimal(amountMinor, currency).split('.');
  const grouped = new Intl.NumberFormat('en-US').format(BigInt(whole!));
  return `${currency} ${grouped}${fraction === undefined ? '' : `.${fraction}`}`;
}

/** The amount as Arabic readers in Saudi Arabia expect it: `Intl.NumberFormat('ar-SA', currency)`. */
export function formatMoneyAr(amountMinor: number, currency: string): string {
  return new Intl.NumberFormat('ar-SA', { style: 'currency', currency }).format(minorToDecimal(amountMinor, currency));
}

export interface LocalTime {
  /** Wall-clock date and time in the zone, e.g. "Tue, 1 Dec 2026, 09:30". */
  local: string;
  /** The IANA zone, e.g. "Asia/Riyadh". */
  zone: string;
  /** Its offset at that instant, e.g. "GMT+3" (localised digits in Arabic). */
  offset: string;
}

const DATE_TIME: Intl.DateTimeFormatOptions = {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
};

/**
 * An instant as the clocks of `timeZone` show it. English uses the 24-hour clock, as timetables do;
 * Arabic uses the Gregorian calendar (the one tickets and airport boards use) and Arabic-Indic digits.
 */
export function formatLocalTime(instant: Date, timeZone: string, lang: 'en' | 'ar'): LocalTime {
  const locale = lang === 'en' ? 'en-GB' : 'ar-SA-u-ca-gregory';
  const hourCycle = lang === 'en' ? 'h23' : 'h12';
  const local = new Intl.DateTimeFormat(locale, { ...DATE_TIME, weekday: lang === 'en' ? 'short' : 'long', hourCycle, timeZone }).format(instant);
  const offset =
    new Intl.DateTimeFormat(locale, { timeZone, timeZoneName: 'shortOffset' }).formatToParts(instant).find((p) => p.type === 'timeZoneName')?.value ?? '';
  return { local, zone: timeZone, offset };
}
