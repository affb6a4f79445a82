import { escapeHtml } from './html-escape.js';
import { formatLocalTime, formatMoneyAr, formatMoneyEn, type LocalTime } from './format.js';

/** Everything the confirmation shows, as read from the database. */
export interface ConfirmationInput {
  booking: { id: number; totalMinor: number; currency: string };
  flight: { flightNumber: string; departureAt: Date; arrivalAt: Date };
  origin: Airport;
  destination: Airport;
  /** In the order the traveller entered them. */
  passengers: { firstName: string; lastName: string }[];
  /** The account holder the e-mail is addressed to. */
  recipientName: string;
}

interface Airport {
  iata: string;
  city: string;
  timeZone: string;
}

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

type Lang = 'en' | 'ar';

const LABELS = {
  en: {
    title: 'Your booking is confirmed',
    greeting: (name: string) => `Dear ${name},`,
    intro: 'Thank you for flying with us. We received your payment and your seats are confirmed.',
    reference: 'Booking reference',
    flight: 'Flight',
    route: 'Route',
    departure: 'Departure',
    arrival: 'Arrival',
    passengers: 'Passengers',
    total: 'Total paid',
    timesNote: 'Times are local to each airport.',
  },
  ar: {
    title: 'تم تأكيد حجزك',
    greeting: (name: string) => `مرحبًا ${name}،`,
    intro: 'شكرًا لاختيارك السفر معنا. استلمنا الدفعة وتم تأكيد مقاعدك.',
    reference: 'رقم الحجز',
    flight: 'رقم الرحلة',
    route: 'المسار',
    departure: 'المغادرة',
    arrival: 'الوصول',
    passengers: 'المسافرون',
    total: 'المبلغ المدفوع',
    timesNote: 'جميع الأوقات بالتوقيت المحلي لكل مطار.',
  },
} as const;

/** One language's facts, formatted but not yet escaped. */
interface Facts {
  reference: string;
  flight: string;
  route: string;
  departure: LocalTime;
  arrival: LocalTime;
  passengers: string[];
  total: string;
}

function facts(input: ConfirmationInput, lang: Lang): Facts {
  const { booking, flight, origin, destination } = input;
  return {
    reference: String(booking.id),
    flight: flight.flightNumber,
    route: `${origin.city} (${origin.iata}) → ${destination.city} (${destination.iata})`,
    // Each time in its own airport's zone: a traveller compares it with the boarding pass and the board.
    departure: formatLocalTime(flight.departureAt, origin.timeZone, lang),
    arrival: formatLocalTime(flight.arrivalAt, destination.timeZone, lang),
    passengers: input.passengers.map((p) => `${p.firstName} ${p.lastName}`),
    total: lang === 'en' ? formatMoneyEn(booking.totalMinor, booking.currency) : formatMoneyAr(booking.totalMinor, booking.currency),
  };
}

const whenText = (t: LocalTime, lang: Lang) => `${t.local} (${t.zone}${lang === 'ar' ? '،' : ','} ${t.offset})`;

/**
 * The booking confirmation: subject plus a text and an HTML alternative, each holding the English part
 * then the Arabic part (`lang="ar" dir="rtl"`). Pure: the same input always gives the same bytes.
 */
export function renderBookingConfirmation(input: ConfirmationInput): RenderedEmail {
  const en = facts(input, 'en');
  const ar = facts(input, 'ar');
  const subject = `${LABELS.en.title}: ${en.flight} ${input.origin.iata}-${input.destination.iata}, ref ${en.reference} | ${LABELS.ar.title}`;
  return {
    subject,
    text: `${textPart('en', en, input.recipientName)}\n\n${'-'.repeat(40)}\n\n${textPart('ar', ar, input.recipientName)}\n`,
    html: htmlDocument(subject, [htmlPart('en', en, input.recipientName), htmlPart('ar', ar, input.recipientName)]),
  };
}

// U+200F RIGHT-TO-LEFT MARK: plain text has no dir attribute, so each Arabic line starts with one to
// make clients lay it out right to left even when it begins with a Latin name or a digit.
const RLM = '\u200f';

function textPart(lang: Lang, f: Facts, recipientName: string): string {
  const l = LABELS[lang];
  const lines = [
    l.title,
    '',
    l.greeting(recipientName),
    l.intro,
    '',
    `${l.reference}: ${f.reference}`,
    `${l.flight}: ${f.flight}`,
    `${l.route}: ${f.route}`,
    `${l.departure}: ${whenText(f.departure, lang)}`,
    `${l.arrival}: ${whenText(f.arrival, lang)}`,
    `${l.passengers}:`,
    ...f.passengers.map((name, i) => `  ${i + 1}. ${name}`),
    `${l.total}: ${f.total}`,
    '',
    l.timesNote,
  ];
  return (lang === 'ar' ? lines.map((line) => (line ? RLM + line : line)) : lines).join('\n');
}

const CELL = 'padding:6px 12px;vertical-align:top;border-bottom:1px solid #e4e7eb';

function htmlPart(lang: Lang, f: Facts, recipientName: string): string {
  const l = LABELS[lang];
  const align = lang === 'ar' ? 'right' : 'left';
  // <bdi> isolates each value, so a Latin name or code inside Arabic text keeps its own direction.
  const v = (value: string) => `<bdi>${escapeHtml(value)}</bdi>`;
  const when = (t: LocalTime) => `${v(t.local)}<br><span style="color:#52606d">${v(t.zone)} (${v(t.offset)})</span>`;
  const row = (label: string, value: string) =>
    `<tr><th scope="row" style="${CELL};text-align:${align};font-weight:600;white-space:nowrap">${escapeHtml(label)}</th><td style="${CELL}">${value}</td></tr>`;
  const passengers = `<ol style="margin:0;padding-${lang === 'ar' ? 'right' : 'left'}:20px">${f.passengers.map((p) => `<li>${v(p)}</li>`).join('')}</ol>`;
  return [
    `<div lang="${lang}" dir="${lang === 'ar' ? 'rtl' : 'ltr'}" style="text-align:${align};padding:24px;background:#ffffff;margin:16px 0">`,
    `<h1 style="font-size:20px;margin:0 0 16px">${escapeHtml(l.title)}</h1>`,
    `<p>${escapeHtml(l.greeting(recipientName))}</p>`,
    `<p>${escapeHtml(l.intro)}</p>`,
    '<table role="presentation" style="border-collapse:collapse;width:100%">',
    row(l.reference, `<strong>${v(f.reference)}</strong>`),
    row(l.flight, v(f.flight)),
    row(l.route, v(f.route)),
    row(l.departure, when(f.departure)),
    row(l.arrival, when(f.arrival)),
    row(l.passengers, passengers),
    row(l.total, `<strong>${v(f.total)}</strong>`),
    '</table>',
    `<p style="color:#52606d;font-size:13px">${escapeHtml(l.timesNote)}</p>`,
    '</div>',
  ].join('\n');
}

function htmlDocument(subject: string, parts: string[]): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(subject)}</title></head>`,
    '<body style="margin:0;padding:16px;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2933;line-height:1.5">',
    '<div style="max-width:600px;margin:0 auto">',
    ...parts,
    '</div>',
    '</body>',
    '</html>',
  ].join('\n');
}
