import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cutoff, planRetention, applyPolicyToGroup, parseGroupBy, snapshotCovers, LAST_OF_GROUP, type RetentionSnapshot } from '../../src/repo/retention.js';
import { checkPolicy, describePolicy, parseCalendarDuration, parseKeepCount, policyIsEmpty } from '../../src/repo/retention-policy.js';
import { UsageError } from '../../src/errors.js';
import type { Snapshot } from '../../src/repo/snapshot.js';

let n = 0;
function snap(time: string, extra: Partial<RetentionSnapshot> = {}): RetentionSnapshot {
  n += 1;
  return { id: `id${String(n).padStart(4, '0')}`, time, hostname: 'h', tags: [], covers: ['volume:v'], ...extra };
}
const NOW = new Date('2030-01-01T00:00:00Z');
const kept = (list: RetentionSnapshot[], policy: Parameters<typeof applyPolicyToGroup>[1], timeZone = 'UTC'): string[] =>
  applyPolicyToGroup(list, policy, { timeZone, now: NOW }).keep.map((k) => list.find((s) => s.id === k.id)!.time);

describe('calendar buckets', () => {
  test('daily buckets follow the local calendar across the spring-forward night', () => {
    // Europe/Berlin, 2021-03-28: 02:00 CET jumps to 03:00 CEST. 23:30Z on the 27th is 00:30 on the 28th.
    const list = [snap('2021-03-27T22:30:00Z'), snap('2021-03-27T23:30:00Z'), snap('2021-03-28T21:30:00Z'), snap('2021-03-28T22:30:00Z')];
    assert.deepEqual(kept(list, { daily: 10 }, 'Europe/Berlin'), ['2021-03-28T22:30:00Z', '2021-03-28T21:30:00Z', '2021-03-27T22:30:00Z']);
    // In UTC the same four are three days: 27th (two), 28th (two).
    assert.deepEqual(kept(list, { daily: 10 }, 'UTC'), ['2021-03-28T22:30:00Z', '2021-03-27T23:30:00Z']);
  });

  test('the repeated hour of the fall-back night is one hourly bucket', () => {
    // 2020-10-25 Berlin: 02:30 CEST (00:30Z) and 02:30 CET (01:30Z) are both hour 2 of the day.
    const list = [snap('2020-10-25T00:30:00Z'), snap('2020-10-25T01:30:00Z'), snap('2020-10-25T02:30:00Z')];
    assert.deepEqual(kept(list, { hourly: 10 }, 'Europe/Berlin'), ['2020-10-25T02:30:00Z', '2020-10-25T01:30:00Z']);
    assert.equal(kept(list, { hourly: 10 }, 'UTC').length, 3);
  });

  test('ISO weeks at year ends: 2020-W53 runs to Sunday 3 January 2021; 29 December 2025 is 2026-W01', () => {
    const list = [snap('2020-12-28T12:00:00Z'), snap('2021-01-03T12:00:00Z'), snap('2021-01-04T12:00:00Z')];
    assert.deepEqual(kept(list, { weekly: 5 }), ['2021-01-04T12:00:00Z', '2021-01-03T12:00:00Z']);
    const late = [snap('2025-12-28T12:00:00Z'), snap('2025-12-29T12:00:00Z'), snap('2026-01-01T12:00:00Z')];
    assert.deepEqual(kept(late, { weekly: 5 }), ['2026-01-01T12:00:00Z', '2025-12-28T12:00:00Z']);
    // Yearly is the calendar year: 29 December 2025 is in 2025.
    assert.deepEqual(kept(late, { yearly: 5 }), ['2026-01-01T12:00:00Z', '2025-12-29T12:00:00Z']);
  });

  test('counts skip periods without a snapshot (the last N periods that have one)', () => {
    const list = [snap('2024-01-01T10:00:00Z'), snap('2024-03-05T10:00:00Z'), snap('2024-03-01T10:00:00Z'), snap('2024-07-09T10:00:00Z')];
    assert.deepEqual(kept(list, { monthly: 3 }), ['2024-07-09T10:00:00Z', '2024-03-05T10:00:00Z', '2024-01-01T10:00:00Z']);
  });

  test('equal times: ordered by id, so the smaller id is the newest of its bucket', () => {
    const a = snap('2024-05-01T10:00:00Z', { id: 'bbbb' });
    const b = snap('2024-05-01T10:00:00Z', { id: 'aaaa' });
    const plan = applyPolicyToGroup([a, b], { last: 1 }, { timeZone: 'UTC', now: NOW });
    assert.deepEqual(plan.keep.map((k) => k.id), ['aaaa']);
    assert.deepEqual(plan.remove.map((k) => k.id), ['bbbb']);
  });
});

describe('rules', () => {
  const week = ['2024-05-07T10:00:00Z', '2024-05-06T10:00:00Z', '2024-05-05T10:00:00Z', '2024-05-04T10:00:00Z', '2024-05-03T10:00:00Z'];

  test('rules are OR-ed and each kept snapshot carries every reason with the counters left', () => {
    const list = week.map((t, i) => snap(t, { tags: i === 4 ? ['manual'] : [] }));
    const plan = applyPolicyToGroup(list, { last: 1, daily: 2, tags: [['manual']] }, { timeZone: 'UTC', now: NOW });
    assert.deepEqual(
      plan.keep.map((k) => [k.time, k.reasons]),
      [
        ['2024-05-07T10:00:00Z', { matches: ['last snapshot', 'daily snapshot'], counters: { daily: 1 } }],
        ['2024-05-06T10:00:00Z', { matches: ['daily snapshot'], counters: {} }],
        ['2024-05-03T10:00:00Z', { matches: ['has tags [manual]'], counters: {} }],
      ],
    );
    assert.deepEqual(plan.remove.map((r) => r.time), ['2024-05-05T10:00:00Z', '2024-05-04T10:00:00Z']);
  });

  test('--keep-within is relative to the newest snapshot, strictly after the cut-off, ignoring future snapshots', () => {
    const list = [...week.map((t) => snap(t)), snap('2031-01-01T00:00:00Z')];
    assert.deepEqual(kept(list, { within: '2d' }), ['2031-01-01T00:00:00Z', '2024-05-07T10:00:00Z', '2024-05-06T10:00:00Z']);
    assert.deepEqual(applyPolicyToGroup(list, { within: '2d' }, { timeZone: 'UTC', now: NOW }).keep[1]?.reasons.matches, ['within 2d']);
  });

  test('--keep-within-daily keeps the newest per day within the window, uncounted', () => {
    const list = [snap('2024-05-07T10:00:00Z'), snap('2024-05-07T08:00:00Z'), snap('2024-05-06T09:00:00Z'), snap('2024-05-01T09:00:00Z')];
    const plan = applyPolicyToGroup(list, { withinDaily: '3d' }, { timeZone: 'UTC', now: NOW });
    assert.deepEqual(plan.keep.map((k) => [k.time, k.reasons.matches]), [
      ['2024-05-07T10:00:00Z', ['daily within 3d']],
      ['2024-05-06T09:00:00Z', ['daily within 3d']],
    ]);
  });

  test('unlimited keeps every period', () => {
    const list = week.map((t) => snap(t));
    const plan = applyPolicyToGroup(list, { daily: 'unlimited' }, { timeZone: 'UTC', now: NOW });
    assert.equal(plan.keep.length, 5);
    assert.deepEqual(plan.keep[0]?.reasons.counters, { daily: 'unlimited' });
  });

  test('an empty policy keeps everything (as restic)', () => {
    const list = week.map((t) => snap(t));
    assert.equal(kept(list, {}).length, 5);
    assert.equal(kept(list, { last: 0, within: '0d' }).length, 5);
    assert.ok(policyIsEmpty({ last: 0 }));
  });

  test('a policy that would remove a whole group keeps the newest and says why', () => {
    const list = week.map((t) => snap(t));
    const plan = applyPolicyToGroup(list, { tags: [['nosuch']] }, { timeZone: 'UTC', now: NOW });
    assert.deepEqual(plan.keep.map((k) => [k.time, k.reasons.matches]), [['2024-05-07T10:00:00Z', [LAST_OF_GROUP]]]);
    assert.equal(plan.remove.length, 4);
  });

  test('an empty tag in a tag list matches untagged snapshots (restic)', () => {
    const list = [snap('2024-05-07T10:00:00Z', { tags: ['x'] }), snap('2024-05-06T10:00:00Z')];
    assert.deepEqual(kept(list, { tags: [['']] }), ['2024-05-06T10:00:00Z']);
  });
});

describe('cut-offs (Go AddDate semantics)', () => {
  test('month overflow rolls over: 31 March minus one month is 3 March (28 February + 3 days)', () => {
    assert.equal(new Date(cutoff(Date.parse('2021-03-31T12:00:00Z'), parseCalendarDuration('1m'), 'UTC')).toISOString(), '2021-03-03T12:00:00.000Z');
  });
  test('days move the wall clock across DST, hours are elapsed time', () => {
    // 2021-03-29 12:00 CEST minus 1 day is 2021-03-28 12:00 CEST (23 h earlier), minus 24 h is 11:00 CEST... on the 28th.
    const newest = Date.parse('2021-03-29T10:00:00Z');
    assert.equal(new Date(cutoff(newest, parseCalendarDuration('1d'), 'Europe/Berlin')).toISOString(), '2021-03-28T10:00:00.000Z');
    assert.equal(new Date(cutoff(newest, parseCalendarDuration('2d'), 'Europe/Berlin')).toISOString(), '2021-03-27T11:00:00.000Z');
    assert.equal(new Date(cutoff(newest, parseCalendarDuration('24h'), 'Europe/Berlin')).toISOString(), '2021-03-28T10:00:00.000Z');
  });
});

describe('validation and grouping', () => {
  test('a negative keep count is a UsageError naming the flag and the fix', () => {
    assert.throws(() => parseKeepCount('-1', '--keep-daily'), (e: unknown) => e instanceof UsageError && /--keep-daily -1: a keep count must be 0 or more.*unlimited/.test(e.message));
    assert.throws(() => checkPolicy({ weekly: -2 }), (e: unknown) => e instanceof UsageError && /--keep-weekly: a keep count must be 0 or more/.test(e.message));
    assert.throws(() => planRetention([], { monthly: -1 }), UsageError);
    assert.throws(() => parseKeepCount('seven', '--keep-last'), /whole number or "unlimited"/);
    assert.equal(parseKeepCount('unlimited', '--keep-last'), 'unlimited');
  });

  test('durations: restic syntax, bad ones named', () => {
    assert.deepEqual(parseCalendarDuration('1y5m7d2h'), { years: 1, months: 5, days: 7, hours: 2 });
    assert.throws(() => checkPolicy({ within: '3w' }), /--keep-within: "3w" is not a duration/);
    assert.throws(() => checkPolicy({ withinDaily: '-1d' }), /--keep-within-daily/);
  });

  test('groups by host and source by default; --group-by changes it', () => {
    const list = [
      snap('2024-05-07T10:00:00Z', { hostname: 'a', covers: ['volume:v'] }),
      snap('2024-05-06T10:00:00Z', { hostname: 'a', covers: ['volume:w'] }),
      snap('2024-05-05T10:00:00Z', { hostname: 'b', covers: ['volume:v'] }),
    ];
    assert.equal(planRetention(list, { last: 1 }, { timeZone: 'UTC', now: NOW }).groups.length, 3);
    const byHost = planRetention(list, { last: 1 }, { timeZone: 'UTC', now: NOW, groupBy: parseGroupBy('host') });
    assert.deepEqual(byHost.groups.map((g) => [g.key, g.keep.length, g.remove.length]), [[{ hostname: 'a' }, 1, 1], [{ hostname: 'b' }, 1, 0]]);
    assert.equal(planRetention(list, { last: 1 }, { groupBy: parseGroupBy('') }).groups.length, 1);
    assert.throws(() => parseGroupBy('host,paths'), /"paths" is not a group field/);
  });

  test('a tsbak snapshot covers its image names, volumes and containers, sorted', () => {
    const s = {
      images: [{ names: ['app:1', 'app:latest'], config: 'sha256:c1' }, { names: [], config: 'sha256:c2' }],
      volumes: [{ name: 'pgdata' }],
      containers: [{ name: 'pg' }],
    } as unknown as Snapshot;
    assert.deepEqual(snapshotCovers(s), ['container:pg', 'image:app:1', 'image:app:latest', 'image:sha256:c2', 'volume:pgdata']);
  });

  test('describePolicy reads like restic', () => {
    assert.equal(describePolicy({ daily: 7, weekly: 4, within: '30d' }), 'keep 7 daily, 4 weekly snapshots, all snapshots within 30d of the newest');
  });
});
