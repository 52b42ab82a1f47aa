/**
 * Wall-clock arithmetic in an IANA time zone, on Intl alone (no tz database of our own).
 * Retention buckets and the cron calculator both need "what does the clock on the wall
 * say at this instant" and "which instant has this wall clock".
 */
import { UsageError } from '../errors.js';

/** A wall-clock reading: month 1–12, day 1–31, hour 0–23. */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The process's own zone (TZ, else /etc/localtime), as Intl resolves it. */
export function localTimeZone(): string {
  return new Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** True when Intl knows the zone (an IANA name such as Europe/Berlin, or UTC). */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

export function checkTimeZone(timeZone: string, where: string): void {
  if (!isValidTimeZone(timeZone)) {
    throw new UsageError(`${where}: "${timeZone}" is not a time zone: use an IANA name such as Europe/Berlin or UTC`);
  }
}

/** The wall clock in `timeZone` at instant `ms` (milliseconds since the epoch). */
export function wallTime(ms: number, timeZone: string): WallTime {
  const parts = formatter(timeZone).formatToParts(new Date(ms));
  const get = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((p) => p.type === type)?.value);
  let year = get('year');
  // Intl writes years before 1 as "1 BC" era parts; we never need them, but stay exact for AD.
  if (parts.some((p) => p.type === 'era' && p.value.startsWith('B'))) year = 1 - year;
  return {
    year,
    month: get('month'),
    day: get('day'),
    hour: get('hour'),
    minute: get('minute'),
    second: get('second'),
    millisecond: ((ms % 1000) + 1000) % 1000,
  };
}

/** A wall time read as if it were UTC: handy for arithmetic and normalisation (Date.UTC rolls overflow over). */
export function wallAsUtc(w: WallTime): number {
  const t = new Date(0);
  t.setUTCFullYear(w.year, w.month - 1, w.day);
  t.setUTCHours(w.hour, w.minute, w.second, w.millisecond);
  return t.getTime();
}

export function utcAsWall(ms: number): WallTime {
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    millisecond: d.getUTCMilliseconds(),
  };
}

/** UTC offset of `timeZone` at instant `ms`, in milliseconds (east positive: Berlin in winter is +3 600 000). */
export function offsetAt(ms: number, timeZone: string): number {
  const whole = ms - (((ms % 1000) + 1000) % 1000);
  return wallAsUtc({ ...wallTime(whole, timeZone), millisecond: 0 }) - whole;
}

/**
 * The instant whose wall clock in `timeZone` reads `w` (fields may overflow: month 13,
 * day 0… are normalised first, as Go's time.Date does). A wall time that does not exist
 * (spring-forward gap) or exists twice (fall-back overlap) resolves as Go's time.Date
 * resolves it, so retention's --keep-within cut-offs match restic's: take the offset in
 * force at the wall time read as UTC; if the result falls outside that offset's period,
 * take the offset in force at the result instead. In a gap that gives the time shifted
 * by the gap (02:30 on a spring-forward night → 03:30); in an overlap, the later
 * (standard-time) reading in zones east of UTC and the earlier (daylight) one west of it.
 * The cron calculator does not rely on this: it enumerates real instants.
 */
export function instantOf(w: WallTime, timeZone: string): number {
  const naive = wallAsUtc(w);
  const first = offsetAt(naive, timeZone);
  let candidate = naive - first;
  const second = offsetAt(candidate, timeZone);
  if (second !== first) candidate = naive - second;
  return candidate;
}

/** ISO 8601 week-numbering year and week (1–53) of a calendar date. */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = new Date(Date.UTC(2000, 0, 1));
  date.setUTCFullYear(year, month - 1, day);
  const weekday = (date.getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  // The Thursday of this week decides the year.
  const thursday = new Date(date.getTime() + (3 - weekday) * 86_400_000);
  const isoYear = thursday.getUTCFullYear();
  const jan1 = new Date(Date.UTC(2000, 0, 1));
  jan1.setUTCFullYear(isoYear, 0, 1);
  const week = 1 + Math.floor((thursday.getTime() - jan1.getTime()) / (7 * 86_400_000));
  return { year: isoYear, week };
}

/** Day of the week of a calendar date: 0 Sunday … 6 Saturday. */
export function weekday(year: number, month: number, day: number): number {
  const date = new Date(Date.UTC(2000, 0, 1));
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCDay();
}

export function daysInMonth(year: number, month: number): number {
  const d = new Date(Date.UTC(2000, 0, 1));
  d.setUTCFullYear(year, month, 0);
  return d.getUTCDate();
}
