/**
 * Local calendar dates and UTC offsets of IANA time zones, from the runtime's own tz data (Intl).
 *
 * Building an `Intl.DateTimeFormat` costs far more than using one (it loads the zone and locale data), and
 * a search needs several, so each zone gets one formatter, built on first use and kept for the life of the
 * process. The set of zones is the airports' zones: small and bounded.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for an unknown zone, before anything is cached.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      // h23, not hour12: false: the latter renders midnight as "24" on some ICU versions.
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  /** The local wall-clock time as if it were UTC, in ms, whole seconds. */
  asUtcMs: number;
}

// en-US with h23 formats as "MM/DD/YYYY, HH:MM:SS"; format() + this pattern costs a fifth of formatToParts.
const WALL_CLOCK = /^(\d{2})\/(\d{2})\/(\d+),? (\d{2}):(\d{2}):(\d{2})$/;

function wallClock(instant: Date, timeZone: string): WallClock {
  const f = formatterFor(timeZone);
  const m = WALL_CLOCK.exec(f.format(instant));
  const [month, day, year, hour, minute, second] = (m ? m.slice(1) : partsInOrder(f, instant)).map(Number) as [
    number, number, number, number, number, number,
  ];
  const asUtc = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  asUtc.setUTCFullYear(year, month - 1, day);
  asUtc.setUTCHours(hour, minute, second, 0);
  return { year, month, day, asUtcMs: asUtc.getTime() };
}

/** Another ICU's layout: slower, but right. */
function partsInOrder(f: Intl.DateTimeFormat, instant: Date): string[] {
  const parts = f.formatToParts(instant);
  return (['month', 'day', 'year', 'hour', 'minute', 'second'] as const).map((type) => parts.find((p) => p.type === type)?.value ?? 'NaN');
}

/** Offset of `timeZone` from UTC at `instant`, in milliseconds (positive east of Greenwich). */
export function zoneOffsetMs(instant: Date, timeZone: string): number {
  return wallClock(instant, timeZone).asUtcMs - Math.floor(instant.getTime() / 1000) * 1000;
}

/**
 * The last answer of localDate per zone, by UTC minute: every search asks for today's date at its
 * origin, and a local day starts on a whole minute whenever the zone's offset is whole minutes (every
 * offset in use since the 1970s), so the date is the same all through the minute.
 */
const lastDates = new Map<string, { minute: number; date: string }>();

/** The local calendar date (YYYY-MM-DD) of `instant` in `timeZone`. */
export function localDate(instant: Date, timeZone: string): string {
  const ms = instant.getTime();
  const minute = Math.floor(ms / 60_000);
  const last = lastDates.get(timeZone);
  if (last?.minute === minute) return last.date;
  const { year, month, day, asUtcMs } = wallClock(instant, timeZone);
  const date = `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
  const offsetMs = asUtcMs - Math.floor(ms / 1000) * 1000;
  if (offsetMs % 60_000 === 0) lastDates.set(timeZone, { minute, date });
  return date;
}

/** Further than any zone's offset from UTC (+14h / -12h), so these samples bracket every candidate. */
const BRACKET_MS = 15 * 3_600_000;

/**
 * The first instant whose local wall-clock time in `timeZone` is at or after `wallMs` (a wall-clock time
 * written as if it were UTC).
 *
 * - No change nearby: the one instant `wallMs - offset`.
 * - Clocks went back (the wall time happens twice): the earlier of the two.
 * - Clocks went forward over it (Africa/Cairo, Asia/Beirut and, until 2019, America/Sao_Paulo skip
 *   00:00 -> 01:00, so their local day starts at 01:00): the transition instant itself. Found by
 *   bisection, since the gap need not start exactly at `wallMs`; it runs only for wall times in a gap.
 */
function firstInstantAtOrAfterWall(wallMs: number, timeZone: string): number {
  const offsetBefore = zoneOffsetMs(new Date(wallMs - BRACKET_MS), timeZone);
  const offsetAfter = zoneOffsetMs(new Date(wallMs + BRACKET_MS), timeZone);
  const earlier = wallMs - Math.max(offsetBefore, offsetAfter);
  const later = wallMs - Math.min(offsetBefore, offsetAfter);
  const wallAt = (t: number) => t + zoneOffsetMs(new Date(t), timeZone);
  if (wallAt(earlier) === wallMs) return earlier;
  if (wallAt(later) === wallMs) return later;
  // A gap: wallAt(earlier) < wallMs <= wallAt(later). Offsets are whole seconds, so are both ends.
  let lo = earlier;
  let hi = later;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (wallAt(mid) >= wallMs) hi = mid;
    else lo = mid;
  }
  return hi;
}

function wallMidnightMs(date: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const t = new Date(0);
  t.setUTCFullYear(y, m - 1, d);
  return t.getTime();
}

/**
 * The UTC instant at which the local calendar day `date` (YYYY-MM-DD) starts in `timeZone`: local
 * midnight, or the first instant after it when a DST change skips midnight.
 */
export function localMidnightUtc(date: string, timeZone: string): Date {
  return new Date(firstInstantAtOrAfterWall(wallMidnightMs(date), timeZone));
}

/**
 * Day ranges already worked out, by zone and date (a search needs its day's range, and finding it
 * formats a dozen instants): a pure function of its arguments, so kept, and forgotten wholesale past a
 * few thousand (routes times the dates people search).
 */
const dayRanges = new Map<string, { start: number; end: number }>();
const DAY_RANGES_KEPT = 4096;

/** [start, end) in UTC of the local calendar day `date` in `timeZone`; 23 or 25 hours long on DST days. */
export function localDayRangeUtc(date: string, timeZone: string): { start: Date; end: Date } {
  const key = `${timeZone} ${date}`;
  let range = dayRanges.get(key);
  if (!range) {
    const wall = wallMidnightMs(date);
    range = { start: firstInstantAtOrAfterWall(wall, timeZone), end: firstInstantAtOrAfterWall(wall + 86_400_000, timeZone) };
    if (dayRanges.size >= DAY_RANGES_KEPT) dayRanges.clear();
    dayRanges.set(key, range);
  }
  return { start: new Date(range.start), end: new Date(range.end) };
}

export function addMinutes(d: Date, minutes: number): Date {
  return new Date(d.getTime() + minutes * 60_000);
}
