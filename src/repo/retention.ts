/**
 * Retention: which snapshots a policy keeps, with restic's `forget` semantics.
 *
 * A pure function of plain inputs (no repository): the caller lists snapshots, this
 * module returns the plan, the caller removes what the plan says. Semantics (restic
 * 0.14's, checked against it by test/integration/retention-restic.test.ts):
 * - snapshots are grouped (by default by host and source, see `groupKeyOf`), and the
 *   policy applies to each group on its own;
 * - within a group, snapshots are walked newest first; `--keep-last N` keeps the N
 *   newest; `--keep-hourly/daily/weekly/monthly/yearly N` keep the newest snapshot of
 *   each of the N most recent calendar periods that have a snapshot (hour, day, ISO
 *   week, month, year of the wall clock in `timeZone`);
 * - `--keep-within D` keeps every snapshot newer than the group's newest snapshot minus
 *   D (years, months, days on the calendar, hours elapsed), `--keep-within-daily D`
 *   etc. keep the newest per period within D; "newest" ignores snapshots dated in the
 *   future;
 * - `--keep-tag a,b` keeps every snapshot carrying both a and b (repeat for OR);
 * - the rules are OR-ed: a snapshot is kept when any rule keeps it, with every reason;
 * - an empty policy keeps everything;
 * - unlike restic, a policy never removes the last snapshot of a group: if it would
 *   remove them all, the newest is kept with a reason saying so.
 * Equal times are ordered by id (restic leaves them in listing order).
 */
import type { Snapshot } from './snapshot.js';
import {
  COUNT_RULES,
  checkPolicy,
  durationIsZero,
  formatCalendarDuration,
  parseCalendarDuration,
  policyIsEmpty,
  type CalendarDuration,
  type CountRule,
  type KeepCount,
  type RetentionPolicy,
} from './retention-policy.js';
import { instantOf, isoWeek, localTimeZone, wallAsUtc, wallTime, utcAsWall } from '../util/timezone.js';
import { UsageError } from '../errors.js';

/** What retention needs of a snapshot. */
export interface RetentionSnapshot {
  id: string;
  /** ISO 8601 time with an offset or Z. */
  time: string;
  hostname: string;
  tags: string[];
  /** What the snapshot covers: `image:NAME`, `volume:NAME`, `container:NAME`. Part of the group key. */
  covers: string[];
}

export type GroupField = 'host' | 'source' | 'tags';
export const DEFAULT_GROUP_BY: GroupField[] = ['host', 'source'];

export interface GroupKey {
  hostname?: string;
  source?: string[];
  tags?: string[];
}

export interface KeepReasons {
  /** restic's strings: `last snapshot`, `daily snapshot`, `within 30d`, `daily within 30d`, `has tags [a, b]`, … */
  matches: string[];
  /** The count rules' remaining counts after this snapshot (zeros left out, as restic's JSON does). */
  counters: Partial<Record<CountRule, number | 'unlimited'>>;
}

export interface RetentionGroup {
  key: GroupKey;
  keep: { id: string; time: string; reasons: KeepReasons }[];
  remove: { id: string; time: string }[];
}

export interface RetentionPlan {
  groups: RetentionGroup[];
}

export interface RetentionOptions {
  /** Default: host and source. An empty list puts every snapshot in one group. */
  groupBy?: GroupField[];
  /** Zone of the calendar periods. Default: the process's (TZ, else /etc/localtime). */
  timeZone?: string;
  /** "Now", for ignoring future snapshots when finding the newest. Default: the clock. */
  now?: Date;
}

/** The reason given when a group would lose every snapshot. */
export const LAST_OF_GROUP = 'newest of its group (the policy would remove every snapshot of the group; tsbak always keeps one)';

/** What a tsbak snapshot covers, for its group key: images by name (else config digest), volumes, containers. */
export function snapshotCovers(snapshot: Snapshot): string[] {
  const covers = new Set<string>();
  for (const image of snapshot.images) {
    if (image.names.length === 0) covers.add(`image:${image.config}`);
    for (const name of image.names) covers.add(`image:${name}`);
  }
  for (const v of snapshot.volumes) covers.add(`volume:${v.name}`);
  for (const c of snapshot.containers) covers.add(`container:${c.name}`);
  return [...covers].sort();
}

export function retentionInput(stored: { id: string; snapshot: Snapshot }): RetentionSnapshot {
  const s = stored.snapshot;
  return { id: stored.id, time: s.time, hostname: s.hostname, tags: s.tags, covers: snapshotCovers(s) };
}

export function parseGroupBy(text: string): GroupField[] {
  if (text.trim() === '') return [];
  const fields = text.split(',').map((f) => f.trim());
  for (const f of fields) {
    if (f !== 'host' && f !== 'source' && f !== 'tags') {
      throw new UsageError(`--group-by ${text}: "${f}" is not a group field: use host, source and/or tags separated by commas, or "" for one group`);
    }
  }
  return [...new Set(fields)] as GroupField[];
}

export function groupKeyOf(s: RetentionSnapshot, groupBy: GroupField[]): GroupKey {
  const key: GroupKey = {};
  if (groupBy.includes('host')) key.hostname = s.hostname;
  if (groupBy.includes('source')) key.source = [...new Set(s.covers)].sort();
  if (groupBy.includes('tags')) key.tags = [...new Set(s.tags)].sort();
  return key;
}

interface Dated extends RetentionSnapshot {
  ms: number;
}

/** Calendar period keys of an instant in a zone. */
function periods(ms: number, timeZone: string): Record<Exclude<CountRule, 'last'>, string> {
  const w = wallTime(ms, timeZone);
  const week = isoWeek(w.year, w.month, w.day);
  return {
    yearly: `${w.year}`,
    monthly: `${w.year}-${w.month}`,
    weekly: `${week.year}-W${week.week}`,
    daily: `${w.year}-${w.month}-${w.day}`,
    hourly: `${w.year}-${w.month}-${w.day}T${w.hour}`,
  };
}

/** newest − d: years, months and days on the wall clock of `timeZone` (overflow rolls over, as Go's AddDate), then hours elapsed. */
export function cutoff(newestMs: number, d: CalendarDuration, timeZone: string): number {
  const w = wallTime(newestMs, timeZone);
  const shifted = utcAsWall(wallAsUtc({ ...w, year: w.year - d.years, month: w.month - d.months, day: w.day - d.days }));
  return instantOf(shifted, timeZone) - d.hours * 3_600_000;
}

const REASON: Record<CountRule, string> = {
  last: 'last snapshot',
  hourly: 'hourly snapshot',
  daily: 'daily snapshot',
  weekly: 'weekly snapshot',
  monthly: 'monthly snapshot',
  yearly: 'yearly snapshot',
};

const WITHIN_PERIOD = [
  ['withinHourly', 'hourly'],
  ['withinDaily', 'daily'],
  ['withinWeekly', 'weekly'],
  ['withinMonthly', 'monthly'],
  ['withinYearly', 'yearly'],
] as const;

function parseTime(s: RetentionSnapshot): number {
  const ms = Date.parse(s.time);
  if (Number.isNaN(ms)) throw new UsageError(`snapshot ${s.id.slice(0, 8)} has time "${s.time}", which is not an ISO 8601 time`);
  return ms;
}

/** Apply the policy to one group's snapshots. */
export function applyPolicyToGroup(list: RetentionSnapshot[], policy: RetentionPolicy, options: RetentionOptions = {}): Omit<RetentionGroup, 'key'> {
  checkPolicy(policy);
  const timeZone = options.timeZone ?? localTimeZone();
  const now = (options.now ?? new Date()).getTime();
  const sorted: Dated[] = list
    .map((s) => ({ ...s, ms: parseTime(s) }))
    .sort((a, b) => b.ms - a.ms || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const keep: RetentionGroup['keep'] = [];
  const remove: RetentionGroup['remove'] = [];
  if (sorted.length === 0) return { keep, remove };
  if (policyIsEmpty(policy)) {
    return { keep: sorted.map((s) => ({ id: s.id, time: s.time, reasons: { matches: ['policy is empty'], counters: {} } })), remove };
  }

  const counts = COUNT_RULES.map((rule) => ({ rule, left: toLeft(policy[rule]), last: undefined as string | undefined }));
  // The newest snapshot not in the future; none (all in the future) keeps every one within.
  let newest = -Infinity;
  for (const s of sorted) if (s.ms < now && s.ms > newest) newest = s.ms;
  const cut = (d: CalendarDuration): number => (newest === -Infinity ? -Infinity : cutoff(newest, d, timeZone));
  const within = policy.within === undefined ? undefined : parseCalendarDuration(policy.within);
  const withinCut = within && !durationIsZero(within) ? { text: formatCalendarDuration(within), at: cut(within) } : undefined;
  const withinPeriods = WITHIN_PERIOD.flatMap(([rule, period]) => {
    const text = policy[rule];
    if (text === undefined) return [];
    const d = parseCalendarDuration(text);
    if (durationIsZero(d)) return [];
    return [{ period, reason: `${period} within ${formatCalendarDuration(d)}`, at: cut(d), last: undefined as string | undefined }];
  });

  for (const [index, s] of sorted.entries()) {
    const matches: string[] = [];
    for (const list of policy.tags ?? []) {
      if (hasAllTags(s.tags, list)) matches.push(`has tags [${list.join(', ')}]`);
    }
    if (withinCut && s.ms > withinCut.at) matches.push(`within ${withinCut.text}`);
    const p = periods(s.ms, timeZone);
    for (const c of counts) {
      if (c.left === 0) continue;
      const bucket = c.rule === 'last' ? `#${index}` : p[c.rule];
      if (bucket === c.last) continue;
      c.last = bucket;
      if (c.left !== Infinity) c.left -= 1;
      matches.push(REASON[c.rule]);
    }
    for (const w of withinPeriods) {
      if (!(s.ms > w.at)) continue;
      const bucket = p[w.period];
      if (bucket === w.last) continue;
      w.last = bucket;
      matches.push(w.reason);
    }
    if (matches.length > 0) keep.push({ id: s.id, time: s.time, reasons: { matches, counters: countersOf(counts) } });
    else remove.push({ id: s.id, time: s.time });
  }

  if (keep.length === 0) {
    const first = remove.shift() as { id: string; time: string };
    keep.push({ ...first, reasons: { matches: [LAST_OF_GROUP], counters: countersOf(counts) } });
  }
  return { keep, remove };
}

function toLeft(v: KeepCount | undefined): number {
  if (v === 'unlimited') return Infinity;
  return v ?? 0;
}

function countersOf(counts: { rule: CountRule; left: number }[]): KeepReasons['counters'] {
  const out: KeepReasons['counters'] = {};
  for (const c of counts) {
    if (c.left === Infinity) out[c.rule] = 'unlimited';
    else if (c.left !== 0) out[c.rule] = c.left;
  }
  return out;
}

/** restic's rule: every tag of the list is on the snapshot; an empty tag matches a snapshot without tags. */
function hasAllTags(tags: string[], list: string[]): boolean {
  return list.every((t) => (t === '' && tags.length === 0) || tags.includes(t));
}

/** Group the snapshots and apply the policy to each group. Groups are ordered by key. */
export function planRetention(snapshots: RetentionSnapshot[], policy: RetentionPolicy, options: RetentionOptions = {}): RetentionPlan {
  checkPolicy(policy);
  const groupBy = options.groupBy ?? DEFAULT_GROUP_BY;
  const groups = new Map<string, { key: GroupKey; members: RetentionSnapshot[] }>();
  for (const s of snapshots) {
    const key = groupKeyOf(s, groupBy);
    const text = JSON.stringify(key);
    let g = groups.get(text);
    if (!g) groups.set(text, (g = { key, members: [] }));
    g.members.push(s);
  }
  return {
    groups: [...groups.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, g]) => ({ key: g.key, ...applyPolicyToGroup(g.members, policy, options) })),
  };
}
