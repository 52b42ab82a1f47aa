/**
 * Cron expressions: validation (node-cron's grammar and parser) and a fire-time
 * calculator of our own, which node-cron lacks for arbitrary start points and gets wrong
 * at DST changes (see README, "node-cron's shortcomings").
 *
 * Fire times are real instants whose wall clock in the schedule's zone matches the
 * expression, with two rules for DST changes (those of Vixie cron / cronie):
 * - gap (spring forward): a matching wall time the clock skips (02:30 when 02:00 jumps to
 *   03:00) fires once at the first instant after the gap (03:00 local);
 * - overlap (fall back): a matching wall time that occurs twice (02:30 CEST, then 02:30
 *   CET) fires once, at its first occurrence, unless the expression runs every hour
 *   (hour field `*`): such a job follows elapsed time and fires in both passes.
 * Day-of-month and day-of-week may not both be restricted: classic cron fires on either,
 * node-cron only on days matching both, so such an expression is refused as ambiguous.
 */
import cron from 'node-cron';
import { daysInMonth, offsetAt, utcAsWall, wallAsUtc, wallTime, weekday } from '../util/timezone.js';

export interface CronSpec {
  expression: string;
  seconds: number[];
  minutes: number[];
  hours: number[];
  /** Numbers, or `L` (last day). */
  daysOfMonth: (number | string)[];
  months: number[];
  /** 0–6 (Sunday 0), `nL` (last weekday n of the month), `n#k` (k-th weekday n). */
  daysOfWeek: (number | string)[];
  everyHour: boolean;
}

export interface CronProblem {
  /** node-cron's field name: minute, hour, dayOfMonth, month, dayOfWeek, second, expression. */
  field: string;
  message: string;
}

const FIELD_WORDS: Record<string, string> = {
  second: 'second (field 1 of 6)',
  minute: 'minute',
  hour: 'hour',
  dayOfMonth: 'day of month',
  month: 'month',
  dayOfWeek: 'day of week',
  expression: 'expression',
};

/** Problems with an expression, each naming its field; empty when it is valid. */
export function cronProblems(expression: string): CronProblem[] {
  const v = cron.validateDetailed(expression);
  if (!v.valid) {
    const fields = expression.trim().split(/\s+/);
    const names = fields.length === 6 ? ['second', 'minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek'] : ['minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek'];
    return v.errors.map((e) => ({
      field: e.field,
      message:
        e.field === 'expression'
          ? `"${expression}" has ${fields.length} field(s): write 5 (minute hour day-of-month month day-of-week) or 6 (with seconds first)`
          : `${FIELD_WORDS[e.field] ?? e.field} "${e.value ?? ''}" is ${/impossible/.test(e.message) ? 'impossible in the given month(s)' : 'out of range or malformed'} (field ${names.indexOf(e.field) + 1} of "${expression}")`,
    }));
  }
  const p = cron.parse(expression);
  const problems: CronProblem[] = [];
  const domAll = p.dayOfMonth.length === 31 && p.dayOfMonth.every((d) => typeof d === 'number');
  const dowAll = new Set(p.dayOfWeek).size === 7 && p.dayOfWeek.every((d) => typeof d === 'number');
  if (!domAll && !dowAll) {
    problems.push({
      field: 'dayOfWeek',
      message: `"${expression}" restricts both day of month and day of week; classic cron runs on either, node-cron only on both: restrict one of them (write * in the other)`,
    });
  }
  for (const d of p.dayOfMonth) {
    if (typeof d === 'string' && d !== 'L') problems.push({ field: 'dayOfMonth', message: `day of month "${d}" is not supported: use numbers, ranges, steps or L` });
  }
  for (const d of p.dayOfWeek) {
    if (typeof d === 'string' && !/^[0-7](L|#[1-5])$/.test(d)) problems.push({ field: 'dayOfWeek', message: `day of week "${d}" is not supported` });
  }
  if (problems.length === 0 && nextFireTimes(parseCron(expression), 'UTC', Date.UTC(2000, 0, 1), 1, 366 * 9).length === 0) {
    problems.push({ field: 'expression', message: `"${expression}" never fires (no such date)` });
  }
  return problems;
}

/** Parse a valid expression (check cronProblems first). */
export function parseCron(expression: string): CronSpec {
  const p = cron.parse(expression);
  const asc = (a: number[]) => [...new Set(a)].sort((x, y) => x - y);
  return {
    expression,
    seconds: asc(p.second),
    minutes: asc(p.minute),
    hours: asc(p.hour),
    daysOfMonth: p.dayOfMonth,
    months: asc(p.month),
    daysOfWeek: p.dayOfWeek.map((d) => (d === 7 ? 0 : d)),
    everyHour: new Set(p.hour).size === 24,
  };
}

function dayMatches(spec: CronSpec, y: number, m: number, d: number): boolean {
  if (!spec.months.includes(m)) return false;
  const last = daysInMonth(y, m);
  const domOk = spec.daysOfMonth.some((v) => v === d || (v === 'L' && d === last));
  if (!domOk) return false;
  const wd = weekday(y, m, d);
  return spec.daysOfWeek.some((v) => {
    if (typeof v === 'number') return v === wd;
    const n = Number(v[0]) % 7;
    if (n !== wd) return false;
    if (v[1] === 'L') return d + 7 > last;
    return Math.floor((d - 1) / 7) + 1 === Number(v.slice(2));
  });
}

/** The DST change near a day, if any: the instant and the offsets before and after. */
interface Transition {
  at: number;
  before: number;
  after: number;
}

function transitionNear(naiveStart: number, timeZone: string): Transition | undefined {
  const lo = naiveStart - offsetAt(naiveStart, timeZone) - 3 * 3_600_000;
  const hi = naiveStart + 86_400_000 - offsetAt(naiveStart + 86_400_000, timeZone) + 3 * 3_600_000;
  const before = offsetAt(lo, timeZone);
  const after = offsetAt(hi, timeZone);
  if (before === after) return undefined;
  let a = lo;
  let b = hi; // offset(a) = before, offset(b) = after
  while (b - a > 1000) {
    const mid = Math.floor((a + b) / 2000) * 1000;
    if (mid <= a || mid >= b) break;
    if (offsetAt(mid, timeZone) === before) a = mid;
    else b = mid;
  }
  return { at: b, before, after };
}

/** The fire instants of one local day, ascending. */
function dayFireTimes(spec: CronSpec, y: number, m: number, d: number, timeZone: string): number[] {
  const naiveStart = wallAsUtc({ year: y, month: m, day: d, hour: 0, minute: 0, second: 0, millisecond: 0 });
  const t = transitionNear(naiveStart, timeZone);
  const out: number[] = [];
  const fixedOffset = t ? 0 : offsetAt(naiveStart - offsetAt(naiveStart, timeZone), timeZone);
  for (const h of spec.hours) {
    for (const mi of spec.minutes) {
      for (const s of spec.seconds) {
        const wall = naiveStart + ((h * 60 + mi) * 60 + s) * 1000;
        if (!t) {
          out.push(wall - fixedOffset);
          continue;
        }
        const first = wall - t.before;
        const second = wall - t.after;
        const firstOk = first < t.at;
        const secondOk = second >= t.at;
        if (firstOk && secondOk) {
          // The wall time happens twice (fall back); `first` is the earlier pass.
          out.push(first);
          if (spec.everyHour) out.push(second);
        } else if (firstOk) out.push(first);
        else if (secondOk) out.push(second);
        else out.push(t.at); // skipped by the clock: run right after the gap
      }
    }
  }
  if (t) {
    out.sort((a, b) => a - b);
    return out.filter((v, i) => i === 0 || v !== out[i - 1]);
  }
  return out;
}

function localDate(ms: number, timeZone: string): { y: number; m: number; d: number } {
  const w = wallTime(ms, timeZone);
  return { y: w.year, m: w.month, d: w.day };
}

function shiftDay(date: { y: number; m: number; d: number }, by: number): { y: number; m: number; d: number } {
  const w = utcAsWall(wallAsUtc({ year: date.y, month: date.m, day: date.d + by, hour: 0, minute: 0, second: 0, millisecond: 0 }));
  return { y: w.year, m: w.month, d: w.day };
}

/** The next `count` fire times strictly after `after` (ms), searching at most `maxDays` local days. */
export function nextFireTimes(spec: CronSpec, timeZone: string, after: number, count: number, maxDays = 366 * 9): number[] {
  const found: number[] = [];
  let date = shiftDay(localDate(after, timeZone), -1); // a fire time just after midnight may belong to "yesterday" at a DST change
  for (let i = 0; i < maxDays && found.length < count; i++, date = shiftDay(date, 1)) {
    if (!dayMatches(spec, date.y, date.m, date.d)) continue;
    for (const t of dayFireTimes(spec, date.y, date.m, date.d, timeZone)) {
      if (t > after && (found.length === 0 || t > (found[found.length - 1] as number))) {
        found.push(t);
        if (found.length === count) break;
      }
    }
  }
  return found;
}

/** The latest fire time at or before `at` (ms), searching back at most `maxDays`; undefined when none. */
export function previousFireTime(spec: CronSpec, timeZone: string, at: number, maxDays = 400): number | undefined {
  let date = shiftDay(localDate(at, timeZone), 1);
  for (let i = 0; i < maxDays; i++, date = shiftDay(date, -1)) {
    if (!dayMatches(spec, date.y, date.m, date.d)) continue;
    const times = dayFireTimes(spec, date.y, date.m, date.d, timeZone);
    for (let j = times.length - 1; j >= 0; j--) if ((times[j] as number) <= at) return times[j];
  }
  return undefined;
}
