// restic 0.14 (Debian's) is the oracle for retention: the same two-year history of
// snapshots goes into a restic repository and into planRetention, and for each policy
// `restic forget --dry-run --json` must keep exactly the snapshots tsbak keeps, for the
// same reasons and with the same counters. Needs only /usr/bin/restic (npm test installs
// it as root); the calendar is Europe/Berlin's, so DST changes are inside the history.
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ResticRepo, RESTIC, type ResticForgetGroup, type ResticSnapshotSpec } from './support/restic-repo.js';
import { executable } from '../env/install.js';
import { planRetention, LAST_OF_GROUP, type RetentionSnapshot } from '../../src/repo/retention.js';
import { parseKeepCount, type RetentionPolicy } from '../../src/repo/retention-policy.js';
import { instantOf, offsetAt, wallTime } from '../../src/util/timezone.js';

const execFileP = promisify(execFile);
const ZONE = 'Europe/Berlin';
const TZ_ENV = { TZ: ZONE };

function skipReason(): string | false {
  if (executable(RESTIC)) return false;
  return process.getuid?.() === 0
    ? `${RESTIC} is missing: npm test installs Debian's restic package (apt-get install restic)`
    : `${RESTIC} is missing and this is not root: install Debian's restic package to run the oracle`;
}

/** mulberry32: a small seeded generator, so every run builds the same history. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** RFC 3339 in Berlin's wall clock with its offset, as restic writes times there. */
function berlin(ms: number): string {
  const w = wallTime(ms, ZONE);
  const off = offsetAt(ms, ZONE) / 60_000;
  const sign = off < 0 ? '-' : '+';
  return `${w.year}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

const at = (y: number, mo: number, d: number, h: number, mi: number, s = 0): number =>
  instantOf({ year: y, month: mo, day: d, hour: h, minute: mi, second: s, millisecond: 0 }, ZONE);

/** Two years, two hosts, 5 min–20 h between snapshots, a third tagged; plus the awkward moments. */
function history(): ResticSnapshotSpec[] {
  const rnd = random(20191101);
  const specs: ResticSnapshotSpec[] = [];
  const tagsFor = (): string[] => {
    const r = rnd();
    if (r < 0.12) return ['manual'];
    if (r < 0.25) return ['nightly', 'weekly'];
    if (r < 0.33) return ['nightly'];
    return [];
  };
  for (const host of ['alpha', 'beta']) {
    for (let ms = at(2019, 11, 1, 0, 0) + Math.floor(rnd() * 3_600_000); ms < at(2021, 11, 2, 0, 0); ms += 300_000 + Math.floor(rnd() * 20 * 3_600_000)) {
      const whole = ms - (ms % 1000);
      specs.push({ time: berlin(whole), hostname: host, tags: tagsFor() });
    }
  }
  const special = [
    Date.parse('2020-10-25T00:30:00Z'), // 02:30 CEST, the first of the two 02:30s
    Date.parse('2020-10-25T01:30:00Z'), // 02:30 CET, the second
    Date.parse('2021-03-28T00:59:59Z'), // 01:59:59 CET, just before the gap
    Date.parse('2021-03-28T01:00:01Z'), // 03:00:01 CEST, just after
    at(2020, 12, 31, 23, 59, 58), // ISO 2020-W53 runs to Sunday 2021-01-03
    at(2021, 1, 3, 23, 59, 57),
    at(2021, 1, 4, 0, 0, 3), // 2021-W01
    at(2020, 2, 29, 12, 0, 1),
  ];
  for (const ms of special) specs.push({ time: berlin(ms), hostname: 'alpha', tags: [] });
  specs.push({ time: '2030-01-01T12:00:00+01:00', hostname: 'beta', tags: ['future'] });
  return dedupe(specs);
}

function dedupe(specs: ResticSnapshotSpec[]): ResticSnapshotSpec[] {
  const seen = new Set<string>();
  return specs.filter((s) => {
    const k = `${s.hostname}@${Date.parse(s.time)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Each policy as restic's flags; tsbak reads the same flags through its own parser. */
const POLICIES: string[][] = [
  ['--keep-last', '1'],
  ['--keep-last', '10'],
  ['--keep-hourly', '48'],
  ['--keep-hourly', '3000'],
  ['--keep-daily', '7'],
  ['--keep-daily', '30'],
  ['--keep-daily', '400', '--keep-weekly', '3'],
  ['--keep-weekly', '8'],
  ['--keep-weekly', '70'],
  ['--keep-monthly', '12'],
  ['--keep-monthly', '30'],
  ['--keep-yearly', '5'],
  ['--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '12'],
  ['--keep-last', '3', '--keep-daily', '14', '--keep-weekly', '10', '--keep-monthly', '18', '--keep-yearly', '3'],
  ['--keep-within', '30d'],
  ['--keep-within', '1y6m'],
  ['--keep-within', '2d12h'],
  ['--keep-within', '1m'],
  ['--keep-within', '400h'],
  ['--keep-tag', 'manual'],
  ['--keep-tag', 'nightly,weekly'],
  ['--keep-tag', 'manual', '--keep-tag', 'weekly'],
  ['--keep-tag', 'nosuchtag'],
  ['--keep-within-daily', '60d'],
  ['--keep-within-weekly', '6m', '--keep-within-monthly', '2y'],
  ['--keep-within-hourly', '3d', '--keep-daily', '5'],
  ['--keep-within-yearly', '10y'],
  ['--keep-last', '5', '--keep-tag', 'manual', '--keep-within', '10d'],
];

/** tsbak's reading of restic's flags (the CLI's own parser is tested with the CLI). */
function policyOf(flags: string[]): RetentionPolicy {
  const p: RetentionPolicy = {};
  for (let i = 0; i < flags.length; i += 2) {
    const flag = flags[i] as string;
    const value = flags[i + 1] as string;
    const rule = flag.replace(/^--keep-/, '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    if (rule === 'tag') (p.tags ??= []).push(value.split(',').map((t) => t.trim()));
    else if (rule.startsWith('within')) (p as Record<string, string>)[rule] = value;
    else (p as Record<string, unknown>)[rule] = parseKeepCount(value, flag);
  }
  return p;
}

const keyOf = (s: { hostname: string; time: string }): string => `${s.hostname}@${Date.parse(s.time)}`;

describe('retention agrees with restic 0.14 forget', { skip: skipReason() }, () => {
  let dir: string;
  let repo: ResticRepo;
  let ours: RetentionSnapshot[];
  const now = new Date();

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsbak-restic-oracle-'));
    const data = path.join(dir, 'data');
    mkdirSync(data);
    writeFileSync(path.join(data, 'f'), 'tiny\n');
    repo = await ResticRepo.create(path.join(dir, 'repo'), data);
    const t0 = Date.now();
    repo.writeSnapshots(history());
    // Real backups too, so the written documents are checked against restic's own.
    await repo.backup(data, { time: '2021-03-28 03:30:00', hostname: 'alpha', tags: ['manual'] }, TZ_ENV);
    await repo.backup(data, { time: '2020-10-25 02:45:00', hostname: 'beta', tags: [] }, TZ_ENV);
    const { stdout } = await execFileP(RESTIC, ['-r', repo.dir, 'snapshots', '--json', '--no-cache', '--no-lock'], {
      env: ResticRepo.env(TZ_ENV),
      maxBuffer: 256 * 1024 * 1024,
    });
    const listed = JSON.parse(stdout) as { id: string; time: string; hostname: string; tags?: string[] }[];
    ours = listed.map((s) => ({ id: s.id, time: s.time, hostname: s.hostname, tags: s.tags ?? [], covers: ['volume:data'] }));
    console.error(`restic oracle: ${ours.length} snapshots in the repository in ${Date.now() - t0} ms`);
    assert.ok(ours.length > 3000, `a long history (${ours.length})`);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(`${POLICIES.length} policies keep the same snapshots for the same reasons`, async () => {
    assert.ok(POLICIES.length >= 20);
    const differences: string[] = [];
    const byId = new Map(ours.map((s) => [s.id, s]));
    for (const flags of POLICIES) {
      const theirs = await repo.forgetDryRun(flags, TZ_ENV);
      const plan = planRetention(ours, policyOf(flags), { timeZone: ZONE, now, groupBy: ['host'] });
      assert.equal(plan.groups.length, 2, flags.join(' '));
      for (const group of plan.groups) {
        const r = theirs.find((g) => g.host === group.key.hostname) as ResticForgetGroup;
        assert.ok(r, `restic has group ${group.key.hostname}`);
        const theirReasons = new Map((r.reasons ?? []).map((x) => [keyOf(x.snapshot), x]));
        let expectedKeep = new Set((r.keep ?? []).map(keyOf));
        // By design tsbak keeps the newest snapshot where restic would remove a whole group.
        const refused = group.keep.length === 1 && group.keep[0]?.reasons.matches[0] === LAST_OF_GROUP;
        if (expectedKeep.size === 0 && refused) expectedKeep = new Set([keyOf({ hostname: group.key.hostname as string, ...group.keep[0]! })]);
        const ourKeep = group.keep.map((k) => keyOf(snapshotById(k.id)));
        const extra = ourKeep.filter((k) => !expectedKeep.has(k));
        const missing = [...expectedKeep].filter((k) => !ourKeep.includes(k));
        if (extra.length || missing.length) {
          differences.push(`${flags.join(' ')} on ${group.key.hostname}: tsbak keeps ${extra.length} more (${extra.slice(0, 3)}), ${missing.length} fewer (${missing.slice(0, 3)})`);
          continue;
        }
        assert.equal(group.keep.length + group.remove.length, ours.filter((s) => s.hostname === group.key.hostname).length);
        if (refused && (r.keep ?? []).length === 0) continue;
        for (const k of group.keep) {
          const mine = snapshotById(k.id);
          const reason = theirReasons.get(keyOf(mine));
          assert.deepEqual(k.reasons.matches, reason?.matches, `${flags.join(' ')}: matches of ${mine.time} on ${mine.hostname}`);
          assert.deepEqual(k.reasons.counters, reason?.counters ?? {}, `${flags.join(' ')}: counters of ${mine.time} on ${mine.hostname}`);
        }
      }
    }
    assert.deepEqual(differences, []);
    function snapshotById(id: string): RetentionSnapshot {
      const s = byId.get(id);
      assert.ok(s, `snapshot ${id} is one of ours`);
      return s;
    }
  });

  test('a policy that would remove a whole group keeps its newest (restic removes all)', async () => {
    const theirs = await repo.forgetDryRun(['--keep-tag', 'nosuchtag'], TZ_ENV);
    for (const g of theirs) assert.equal((g.keep ?? []).length, 0);
    const plan = planRetention(ours, { tags: [['nosuchtag']] }, { timeZone: ZONE, now, groupBy: ['host'] });
    for (const g of plan.groups) {
      assert.equal(g.keep.length, 1);
      assert.deepEqual(g.keep[0]?.reasons.matches, [LAST_OF_GROUP]);
    }
  });
});
