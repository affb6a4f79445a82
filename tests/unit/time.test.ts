import { describe, expect, it } from 'vitest';
import { localDate, localDayRangeUtc, localMidnightUtc, zoneOffsetMs } from '../../server/lib/time.js';

const HOUR = 3_600_000;
const at = (iso: string) => new Date(iso);
const hours = (r: { start: Date; end: Date }) => (r.end.getTime() - r.start.getTime()) / HOUR;
const iso = (r: { start: Date; end: Date }) => ({ start: r.start.toISOString(), end: r.end.toISOString() });

function nextDate(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 24 * HOUR).toISOString().slice(0, 10);
}

// Each zone below moves its clocks AT local midnight, so "midnight" is missing or the day is 23/25 hours.
describe('Africa/Cairo (clocks change at midnight, east of Greenwich)', () => {
  const tz = 'Africa/Cairo';

  it('2023-04-28 has no 00:00: the day starts at 01:00 EEST (22:00Z) and lasts 23 hours', () => {
    const day = localDayRangeUtc('2023-04-28', tz);
    expect(iso(day)).toEqual({ start: '2023-04-27T22:00:00.000Z', end: '2023-04-28T21:00:00.000Z' });
    expect(hours(day)).toBe(23);
  });

  it('2023-10-26 lives 23:00-24:00 twice: it lasts 25 hours, ending at midnight EET (22:00Z)', () => {
    const day = localDayRangeUtc('2023-10-26', tz);
    expect(iso(day)).toEqual({ start: '2023-10-25T21:00:00.000Z', end: '2023-10-26T22:00:00.000Z' });
    expect(hours(day)).toBe(25);
  });

  it('a departure in the repeated hour belongs to the earlier date', () => {
    expect(localDate(at('2023-10-26T21:30:00Z'), tz)).toBe('2023-10-26');
    expect(localDate(at('2023-10-26T22:00:00Z'), tz)).toBe('2023-10-27');
  });

  it('offset is +2 before the spring change and +3 from its first second', () => {
    expect(zoneOffsetMs(at('2023-04-27T21:59:59Z'), tz)).toBe(2 * HOUR);
    expect(zoneOffsetMs(at('2023-04-27T22:00:00Z'), tz)).toBe(3 * HOUR);
  });
});

describe('Asia/Beirut (spring forward at 00:00, fall back at 00:00 to 23:00 the day before)', () => {
  const tz = 'Asia/Beirut';

  it('2024-03-31 starts at 01:00 EEST (22:00Z) and lasts 23 hours', () => {
    const day = localDayRangeUtc('2024-03-31', tz);
    expect(iso(day)).toEqual({ start: '2024-03-30T22:00:00.000Z', end: '2024-03-31T21:00:00.000Z' });
    expect(hours(day)).toBe(23);
  });

  it('2024-10-26 gains the hour back at its end (25 hours); 2024-10-27 starts at midnight EET', () => {
    const day = localDayRangeUtc('2024-10-26', tz);
    expect(iso(day)).toEqual({ start: '2024-10-25T21:00:00.000Z', end: '2024-10-26T22:00:00.000Z' });
    expect(hours(day)).toBe(25);
    expect(localMidnightUtc('2024-10-27', tz).toISOString()).toBe('2024-10-26T22:00:00.000Z');
  });

  it('the last second before the spring change is still the previous date', () => {
    expect(localDate(at('2024-03-30T21:59:59Z'), tz)).toBe('2024-03-30');
    expect(localDate(at('2024-03-30T22:00:00Z'), tz)).toBe('2024-03-31');
  });
});

describe('America/Sao_Paulo (west of Greenwich; DST at midnight until 2019)', () => {
  const tz = 'America/Sao_Paulo';

  it('2018-11-04 has no 00:00: the day starts at 01:00 -02 (03:00Z), not at 23:00 of the day before', () => {
    const day = localDayRangeUtc('2018-11-04', tz);
    expect(iso(day)).toEqual({ start: '2018-11-04T03:00:00.000Z', end: '2018-11-05T02:00:00.000Z' });
    expect(hours(day)).toBe(23);
  });

  it('2019-02-16 lives 23:00-24:00 twice and lasts 25 hours', () => {
    const day = localDayRangeUtc('2019-02-16', tz);
    expect(iso(day)).toEqual({ start: '2019-02-16T02:00:00.000Z', end: '2019-02-17T03:00:00.000Z' });
    expect(hours(day)).toBe(25);
  });

  it('local dates and offsets either side of both changes', () => {
    expect(localDate(at('2018-11-04T02:59:59Z'), tz)).toBe('2018-11-03');
    expect(localDate(at('2018-11-04T03:00:00Z'), tz)).toBe('2018-11-04');
    expect(localDate(at('2019-02-17T02:30:00Z'), tz)).toBe('2019-02-16');
    expect(zoneOffsetMs(at('2018-11-04T02:59:59Z'), tz)).toBe(-3 * HOUR);
    expect(zoneOffsetMs(at('2018-11-04T03:00:00Z'), tz)).toBe(-2 * HOUR);
    expect(zoneOffsetMs(at('2019-02-17T02:00:00Z'), tz)).toBe(-3 * HOUR);
  });

  it('since 2019 there is no DST: 2030-11-03 (once a change day) is 24 hours at -03', () => {
    expect(iso(localDayRangeUtc('2030-11-03', tz))).toEqual({ start: '2030-11-03T03:00:00.000Z', end: '2030-11-04T03:00:00.000Z' });
  });
});

describe('Asia/Riyadh (no DST)', () => {
  const tz = 'Asia/Riyadh';

  it('a day is 21:00Z the day before to 21:00Z', () => {
    expect(iso(localDayRangeUtc('2030-01-15', tz))).toEqual({ start: '2030-01-14T21:00:00.000Z', end: '2030-01-15T21:00:00.000Z' });
  });

  it('local midnight itself is +3 and the new date (not hour "24" of the old one)', () => {
    expect(zoneOffsetMs(at('2030-01-14T21:00:00Z'), tz)).toBe(3 * HOUR);
    expect(localDate(at('2030-01-14T21:00:00Z'), tz)).toBe('2030-01-15');
    expect(localDate(at('2030-01-14T20:59:59.999Z'), tz)).toBe('2030-01-14');
  });

  it('a 01:30 departure belongs to its Riyadh date, not the UTC one', () => {
    expect(localDate(at('2030-01-14T22:30:00Z'), tz)).toBe('2030-01-15');
  });
});

describe('every day of a DST year, in every zone', () => {
  // Also America/Havana, which falls back 01:00 -> 00:00, so its midnight happens twice: the first counts.
  const cases: [string, number][] = [
    ['Africa/Cairo', 2023],
    ['Asia/Beirut', 2024],
    ['America/Sao_Paulo', 2018],
    ['America/Havana', 2024],
    ['Asia/Riyadh', 2030],
  ];

  it.each(cases)('%s %i: each day starts on its own date, right after the last second of the one before, and ends where the next begins', (tz, year) => {
    for (let date = `${year}-01-01`; date.startsWith(String(year)); date = nextDate(date)) {
      const { start, end } = localDayRangeUtc(date, tz);
      expect(localDate(start, tz), `${tz} ${date} start`).toBe(date);
      expect(localDate(new Date(start.getTime() - 1000), tz), `${tz} ${date} a second before`).not.toBe(date);
      expect(end.getTime(), `${tz} ${date} end`).toBe(localMidnightUtc(nextDate(date), tz).getTime());
      expect([23, 24, 25], `${tz} ${date} length`).toContain(hours({ start, end }));
    }
  });
});

describe('a day a zone skipped altogether', () => {
  it('Pacific/Apia jumped from 2011-12-29 to 2011-12-31: 2011-12-30 is an empty range', () => {
    const day = localDayRangeUtc('2011-12-30', 'Pacific/Apia');
    expect(day.start.toISOString()).toBe('2011-12-30T10:00:00.000Z');
    expect(day.end.toISOString()).toBe(day.start.toISOString());
  });
});

describe('an unknown zone', () => {
  it('throws RangeError, every time (a failed zone is not cached)', () => {
    expect(() => localDate(new Date(), 'Mars/Olympus_Mons')).toThrow(RangeError);
    expect(() => localDate(new Date(), 'Mars/Olympus_Mons')).toThrow(RangeError);
  });
});

describe("today's date, asked again within the same minute (every search asks it)", () => {
  it('changes on the minute a half-hour zone reaches midnight, and stays right when asked back and forth', () => {
    // Asia/Kolkata is +05:30: local midnight of 2030-05-12 is 18:30:00Z.
    const before = new Date('2030-05-11T18:29:59.999Z');
    const after = new Date('2030-05-11T18:30:00.000Z');
    for (let i = 0; i < 3; i++) {
      expect(localDate(before, 'Asia/Kolkata')).toBe('2030-05-11');
      expect(localDate(after, 'Asia/Kolkata')).toBe('2030-05-12');
    }
  });

  it('is not reused within a minute when the offset has seconds (local mean time before 1947 in Riyadh: +03:06:52)', () => {
    expect(zoneOffsetMs(new Date('1900-06-01T12:00:00Z'), 'Asia/Riyadh')).toBe(((3 * 60 + 6) * 60 + 52) * 1000);
    // Local midnight falls at 20:53:08Z: the same UTC minute holds two dates.
    expect(localDate(new Date('1900-06-01T20:53:05Z'), 'Asia/Riyadh')).toBe('1900-06-01');
    expect(localDate(new Date('1900-06-01T20:53:10Z'), 'Asia/Riyadh')).toBe('1900-06-02');
    expect(localDate(new Date('1900-06-01T20:53:05Z'), 'Asia/Riyadh')).toBe('1900-06-01');
  });
});
