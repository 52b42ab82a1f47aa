/**
 * A retention policy as users write it (flags of `tsbak forget`, `retention:` of a
 * schedule file), its validation and restic's duration syntax (`1y5m7d2h`).
 */
import { UsageError } from '../errors.js';

/** A keep count: 0 or more, or `unlimited` (every period; restic ≥ 0.15 spells it -1). */
export type KeepCount = number | 'unlimited';

export const COUNT_RULES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type CountRule = (typeof COUNT_RULES)[number];
export const WITHIN_RULES = ['within', 'withinHourly', 'withinDaily', 'withinWeekly', 'withinMonthly', 'withinYearly'] as const;
export type WithinRule = (typeof WITHIN_RULES)[number];

export interface RetentionPolicy {
  last?: KeepCount;
  hourly?: KeepCount;
  daily?: KeepCount;
  weekly?: KeepCount;
  monthly?: KeepCount;
  yearly?: KeepCount;
  /** Durations in restic's syntax: `30d`, `1y6m`, `2d12h`. Relative to the newest snapshot of the group. */
  within?: string;
  withinHourly?: string;
  withinDaily?: string;
  withinWeekly?: string;
  withinMonthly?: string;
  withinYearly?: string;
  /** Keep every snapshot that carries all tags of one of these lists. */
  tags?: string[][];
}

/** A calendar duration: years, months and days move the wall clock, hours are elapsed time (as in restic). */
export interface CalendarDuration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

/** The flag spelling of a rule, for messages: withinDaily → --keep-within-daily. */
export function flagOf(rule: CountRule | WithinRule | 'tags'): string {
  if (rule === 'tags') return '--keep-tag';
  return '--keep-' + rule.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** Parse restic's duration syntax: numbers each followed by y, m, d or h, e.g. `1y5m7d2h`. */
export function parseCalendarDuration(text: string): CalendarDuration {
  const d: CalendarDuration = { years: 0, months: 0, days: 0, hours: 0 };
  const s = text.trim();
  if (s === '') throw new Error('empty duration');
  const re = /(\d+)([ymdh])/gy;
  let at = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const n = Number(m[1]);
    if (m[2] === 'y') d.years = n;
    else if (m[2] === 'm') d.months = n;
    else if (m[2] === 'd') d.days = n;
    else d.hours = n;
    at = re.lastIndex;
  }
  if (at !== s.length) {
    throw new Error(`"${text}" is not a duration: write numbers with units y (years), m (months), d (days), h (hours), e.g. 1y6m or 30d`);
  }
  return d;
}

export function durationIsZero(d: CalendarDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/** restic's rendering of a duration (zero parts left out), used in reasons: `within 30d`. */
export function formatCalendarDuration(d: CalendarDuration): string {
  return `${d.years ? `${d.years}y` : ''}${d.months ? `${d.months}m` : ''}${d.days ? `${d.days}d` : ''}${d.hours ? `${d.hours}h` : ''}`;
}

/** What is wrong with one keep count, or undefined when it is fine. */
export function keepCountProblem(value: unknown): string | undefined {
  if (value === 'unlimited') return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) return `a keep count is a whole number or "unlimited", not ${JSON.stringify(value)}`;
  if (value < 0) {
    return `a keep count must be 0 or more, not ${value} (restic 0.14 reads a negative count as no rule, which can forget every snapshot; for every period write "unlimited")`;
  }
  return undefined;
}

/** Read a count flag's text: `7`, `0`, `unlimited`; anything else is a usage error naming the flag. */
export function parseKeepCount(text: string, flag: string): KeepCount {
  const t = text.trim();
  const value: unknown = t === 'unlimited' ? t : /^-?\d+$/.test(t) ? Number(t) : t;
  const problem = keepCountProblem(value);
  if (problem) throw new UsageError(`${flag} ${text}: ${problem}`);
  return value as KeepCount;
}

/** Every problem of a policy, each naming its flag; empty when the policy is valid. */
export function policyProblems(policy: RetentionPolicy): { rule: CountRule | WithinRule | 'tags'; message: string }[] {
  const problems: { rule: CountRule | WithinRule | 'tags'; message: string }[] = [];
  for (const rule of COUNT_RULES) {
    const v = policy[rule];
    if (v === undefined) continue;
    const p = keepCountProblem(v);
    if (p) problems.push({ rule, message: p });
  }
  for (const rule of WITHIN_RULES) {
    const v = policy[rule];
    if (v === undefined) continue;
    try {
      parseCalendarDuration(v);
    } catch (err) {
      problems.push({ rule, message: (err as Error).message });
    }
  }
  for (const list of policy.tags ?? []) {
    if (!Array.isArray(list) || list.length === 0 || list.some((t) => typeof t !== 'string')) {
      problems.push({ rule: 'tags', message: 'a tag list is one or more tags (all of them must be on a snapshot)' });
    }
  }
  return problems;
}

/** Throw a UsageError naming each bad flag, or return the policy. */
export function checkPolicy(policy: RetentionPolicy): RetentionPolicy {
  const problems = policyProblems(policy);
  if (problems.length > 0) throw new UsageError(problems.map((p) => `${flagOf(p.rule)}: ${p.message}`).join('; '));
  return policy;
}

/** True when no rule is set: then nothing is removed (as in restic). */
export function policyIsEmpty(policy: RetentionPolicy): boolean {
  if ((policy.tags ?? []).length > 0) return false;
  if (COUNT_RULES.some((r) => policy[r] !== undefined && policy[r] !== 0)) return false;
  return !WITHIN_RULES.some((r) => policy[r] !== undefined && !durationIsZero(parseCalendarDuration(policy[r] as string)));
}

/** restic's one-line summary of a policy ("keep 7 daily, 4 weekly snapshots"). */
export function describePolicy(policy: RetentionPolicy): string {
  const counts: string[] = [];
  const names: Record<CountRule, string> = { last: 'latest', hourly: 'hourly', daily: 'daily', weekly: 'weekly', monthly: 'monthly', yearly: 'yearly' };
  for (const r of COUNT_RULES) {
    const v = policy[r];
    if (v === 'unlimited' || (typeof v === 'number' && v > 0)) counts.push(`${v} ${names[r]}`);
  }
  const parts: string[] = [];
  if (counts.length) parts.push(`${counts.join(', ')} snapshots`);
  for (const r of WITHIN_RULES.slice(1)) {
    const v = policy[r];
    if (v !== undefined && !durationIsZero(parseCalendarDuration(v))) parts.push(`${r.slice(6).toLowerCase()} snapshots within ${v}`);
  }
  if ((policy.tags ?? []).length) parts.push(`all snapshots with tags ${(policy.tags ?? []).map((l) => `[${l.join(', ')}]`).join(' ')}`);
  if (policy.within !== undefined && !durationIsZero(parseCalendarDuration(policy.within))) parts.push(`all snapshots within ${policy.within} of the newest`);
  return parts.length ? `keep ${parts.join(', ')}` : 'no policy: keep everything';
}
