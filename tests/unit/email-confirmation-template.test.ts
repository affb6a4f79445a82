import { describe, expect, it } from 'vitest';
import { renderBookingConfirmation, type ConfirmationInput } from '../../server/services/email/confirmation-template.js';
import { formatLocalTime, formatMoneyAr, formatMoneyEn, minorToDecimal } from '../../server/services/email/format.js';
import { escapeHtml } from '../../server/services/email/html-escape.js';

const RUH = { iata: 'RUH', city: 'Riyadh', timeZone: 'Asia/Riyadh' };
const JED = { iata: 'JED', city: 'Jeddah', timeZone: 'Asia/Riyadh' };

function input(overrides: Partial<ConfirmationInput> = {}): ConfirmationInput {
  return {
    booking: { id: 4821, totalMinor: 40_600, currency: 'SAR' },
    // 22:45 UTC on 31 Dec is already 01:45 on 1 Jan in Riyadh: the local date differs from the UTC one.
    flight: { flightNumber: 'SV1024', departureAt: new Date('2026-12-31T22:45:00Z'), arrivalAt: new Date('2027-01-01T00:35:00Z') },
    origin: RUH,
    destination: JED,
    passengers: [
      { firstName: 'Layla', lastName: 'Hassan' },
      { firstName: 'محمد', lastName: 'العتيبي' },
    ],
    recipientName: 'Layla Hassan',
    ...overrides,
  };
}

const arabicPart = (html: string) => html.slice(html.indexOf('<div lang="ar"'));
const englishPart = (html: string) => html.slice(html.indexOf('<div lang="en"'), html.indexOf('<div lang="ar"'));

describe('money from minor units', () => {
  it.each([
    [40_600, 'SAR', '406.00', 'SAR 406.00'],
    [5, 'SAR', '0.05', 'SAR 0.05'],
    [0, 'SAR', '0.00', 'SAR 0.00'],
    [123_456_789, 'SAR', '1234567.89', 'SAR 1,234,567.89'],
    [12_345, 'KWD', '12.345', 'KWD 12.345'],
    [500, 'JPY', '500', 'JPY 500'],
    // Beyond 2^53 / 100 a float would already have lost the halalas.
    [9_007_199_254_740_991, 'SAR', '90071992547409.91', 'SAR 90,071,992,547,409.91'],
  ])('%i %s is %s, "%s" in English', (minor, currency, decimal, english) => {
    expect(minorToDecimal(minor, currency)).toBe(decimal);
    expect(formatMoneyEn(minor, currency)).toBe(english);
  });

  it("Arabic is Intl.NumberFormat('ar-SA') of the same exact amount", () => {
    expect(formatMoneyAr(40_600, 'SAR')).toBe(new Intl.NumberFormat('ar-SA', { style: 'currency', currency: 'SAR' }).format(406));
    expect(formatMoneyAr(40_600, 'SAR')).toContain('٤٠٦٫٠٠');
    expect(formatMoneyAr(12_345, 'KWD')).toContain('١٢٫٣٤٥');
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 53])('refuses %s minor units', (bad) => {
    expect(() => formatMoneyEn(bad, 'SAR')).toThrow(RangeError);
  });
});

describe('local times', () => {
  it("are the airport's wall clock, with its zone and offset named", () => {
    const t = formatLocalTime(new Date('2026-12-31T22:45:00Z'), 'Asia/Riyadh', 'en');
    expect(t).toEqual({ local: 'Fri, 1 Jan 2027, 01:45', zone: 'Asia/Riyadh', offset: 'GMT+3' });
  });

  it('follow daylight saving time where the zone has it', () => {
    expect(formatLocalTime(new Date('2026-07-01T12:00:00Z'), 'America/New_York', 'en')).toMatchObject({ local: 'Wed, 1 Jul 2026, 08:00', offset: 'GMT-4' });
    expect(formatLocalTime(new Date('2026-12-01T12:00:00Z'), 'America/New_York', 'en')).toMatchObject({ local: 'Tue, 1 Dec 2026, 07:00', offset: 'GMT-5' });
  });

  it('in Arabic use the Gregorian calendar and Arabic-Indic digits', () => {
    const t = formatLocalTime(new Date('2026-12-31T22:45:00Z'), 'Asia/Riyadh', 'ar');
    expect(t.local).toContain('٢٠٢٧');
    expect(t.local).toContain('يناير');
    expect(t.local).toContain('١:٤٥');
    expect(t.zone).toBe('Asia/Riyadh');
  });
});

describe('renderBookingConfirmation', () => {
  it('the subject names the flight, the route, the reference, in both languages', () => {
    expect(renderBookingConfirmation(input()).subject).toBe('Your booking is confirmed: SV1024 RUH-JED, ref 4821 | تم تأكيد حجزك');
  });

  it('the English text part holds every fact, the departure in the origin airport time', () => {
    const { text } = renderBookingConfirmation(input());
    const english = text.slice(0, text.indexOf('تم تأكيد حجزك'));
    expect(english).toContain('Dear Layla Hassan,');
    expect(english).toContain('Booking reference: 4821');
    expect(english).toContain('Flight: SV1024');
    expect(english).toContain('Route: Riyadh (RUH) → Jeddah (JED)');
    expect(english).toContain('Departure: Fri, 1 Jan 2027, 01:45 (Asia/Riyadh, GMT+3)');
    expect(english).toContain('Arrival: Fri, 1 Jan 2027, 03:35 (Asia/Riyadh, GMT+3)');
    expect(english).toContain('  1. Layla Hassan\n  2. محمد العتيبي');
    expect(english).toContain('Total paid: SAR 406.00');
  });

  it('the Arabic text part follows, every line marked right to left', () => {
    const { text } = renderBookingConfirmation(input());
    const arabic = text.slice(text.indexOf('تم تأكيد حجزك') - 1);
    const lines = arabic.split('\n').filter(Boolean);
    expect(lines.every((l) => l.startsWith('\u200f'))).toBe(true);
    expect(arabic).toContain('رقم الحجز: 4821');
    expect(arabic).toContain('رقم الرحلة: SV1024');
    expect(arabic).toContain(`المبلغ المدفوع: ${formatMoneyAr(40_600, 'SAR')}`);
    expect(arabic).toContain('Asia/Riyadh');
    expect(arabic).toContain('1. Layla Hassan');
  });

  it('the HTML has an English part and an Arabic part with dir="rtl" and lang="ar"', () => {
    const { html } = renderBookingConfirmation(input());
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('<meta charset="utf-8">');
    const en = englishPart(html);
    const ar = arabicPart(html);
    expect(en).toContain('<div lang="en" dir="ltr"');
    expect(en).toContain('SAR 406.00');
    expect(en).toContain('Fri, 1 Jan 2027, 01:45');
    expect(ar).toMatch(/^<div lang="ar" dir="rtl"/);
    expect(ar).toContain(escapeHtml(formatMoneyAr(40_600, 'SAR')));
    expect(ar).toContain('<bdi>Asia/Riyadh</bdi>');
    expect(ar).toContain('<li><bdi>محمد العتيبي</bdi></li>');
    for (const part of [en, ar]) {
      expect(part).toContain('4821');
      expect(part).toContain('SV1024');
      expect(part).toContain('Riyadh (RUH) → Jeddah (JED)');
      expect(part).toContain('Layla Hassan');
    }
  });

  it('escapes every value a traveller typed, in every part of the HTML', () => {
    const evil = '<img src=x onerror="alert(1)">&\'';
    const { html, text } = renderBookingConfirmation(
      input({ recipientName: evil, passengers: [{ firstName: evil, lastName: '<script>x</script>' }] }),
    );
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;');
    expect(html).toContain('&lt;script&gt;x&lt;/script&gt;');
    // Plain text is not HTML: the name is shown as typed.
    expect(text).toContain(`Dear ${evil},`);
  });

  it('is pure: the same input gives the same message', () => {
    expect(renderBookingConfirmation(input())).toEqual(renderBookingConfirmation(input()));
  });
});
