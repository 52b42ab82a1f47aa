import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import cron from 'node-cron';
import { cronProblems, nextFireTimes, parseCron, previousFireTime } from '../../src/schedule/cron.js';

const iso = (ms: number[]): string[] => ms.map((m) => new Date(m).toISOString().replace('.000', ''));
const next = (expr: string, tz: string, after: string, n: number): string[] => iso(nextFireTimes(parseCron(expr), tz, Date.parse(after), n));

describe('cron validation', () => {
  test('61 25 * * * names the minute and the hour', () => {
    const p = cronProblems('61 25 * * *');
    assert.deepEqual(p.map((x) => x.field), ['minute', 'hour']);
    assert.match(p[0]!.message, /minute "61" is out of range or malformed \(field 1 of "61 25 \* \* \*"\)/);
    assert.match(p[1]!.message, /hour "25"/);
  });
  test('field counts, ambiguous day rules and impossible dates are refused', () => {
    assert.match(cronProblems('1 2 3')[0]!.message, /has 3 field\(s\): write 5 .* or 6/);
    assert.match(cronProblems('0 3 1 * 1')[0]!.message, /both day of month and day of week/);
    assert.match(cronProblems('0 0 30 2 *')[0]!.message, /day of month "30" is impossible in the given month/);
    assert.match(cronProblems('0 0 15W * *')[0]!.message, /not supported/);
    assert.deepEqual(cronProblems('30 2 * * *'), []);
    assert.deepEqual(cronProblems('*/10 * * * * *'), []);
    assert.deepEqual(cronProblems('0 0 * * 5L'), []);
  });
});

describe('fire times', () => {
  test('plain: every 15 minutes, 6-field seconds, names, last day of month, nth weekday', () => {
    assert.deepEqual(next('*/15 * * * *', 'UTC', '2024-05-01T10:07:00Z', 3), ['2024-05-01T10:15:00Z', '2024-05-01T10:30:00Z', '2024-05-01T10:45:00Z']);
    assert.deepEqual(next('*/20 * * * * *', 'UTC', '2024-05-01T10:00:00Z', 3), ['2024-05-01T10:00:20Z', '2024-05-01T10:00:40Z', '2024-05-01T10:01:00Z']);
    assert.deepEqual(next('0 9 * * mon-fri', 'UTC', '2024-05-03T10:00:00Z', 2), ['2024-05-06T09:00:00Z', '2024-05-07T09:00:00Z']);
    assert.deepEqual(next('0 0 L * *', 'UTC', '2024-01-31T01:00:00Z', 2), ['2024-02-29T00:00:00Z', '2024-03-31T00:00:00Z']);
    assert.deepEqual(next('0 0 * * 1#2', 'UTC', '2024-05-01T00:00:00Z', 2), ['2024-05-13T00:00:00Z', '2024-06-10T00:00:00Z']);
    assert.deepEqual(next('0 0 * * 5L', 'UTC', '2024-05-01T00:00:00Z', 1), ['2024-05-31T00:00:00Z']);
    assert.deepEqual(next('0 0 29 2 *', 'UTC', '2024-03-01T00:00:00Z', 1), ['2028-02-29T00:00:00Z']);
  });

  test('in a zone: 02:30 local is 00:30Z in Berlin summer and 07:30Z in New York winter', () => {
    assert.deepEqual(next('30 2 * * *', 'Europe/Berlin', '2024-07-01T00:00:00Z', 1), ['2024-07-01T00:30:00Z']);
    assert.deepEqual(next('30 2 * * *', 'America/New_York', '2024-01-10T00:00:00Z', 1), ['2024-01-10T07:30:00Z']);
  });

  test('spring forward: 02:30 does not exist on 28 March 2021 in Berlin, so it fires at 03:00 CEST, once', () => {
    assert.deepEqual(next('30 2 * * *', 'Europe/Berlin', '2021-03-27T12:00:00Z', 3), ['2021-03-28T01:00:00Z', '2021-03-29T00:30:00Z', '2021-03-30T00:30:00Z']);
    assert.deepEqual(next('0,30 2 * * *', 'Europe/Berlin', '2021-03-27T12:00:00Z', 2), ['2021-03-28T01:00:00Z', '2021-03-29T00:00:00Z']);
    // Every 30 minutes: 01:30 CET, then 03:00 CEST (02:00 and 02:30 never happen).
    assert.deepEqual(next('*/30 * * * *', 'Europe/Berlin', '2021-03-28T00:10:00Z', 3), ['2021-03-28T00:30:00Z', '2021-03-28T01:00:00Z', '2021-03-28T01:30:00Z']);
    // New York jumps 02:00 EST → 03:00 EDT at 07:00Z on 14 March 2021.
    assert.deepEqual(next('30 2 * * *', 'America/New_York', '2021-03-13T12:00:00Z', 2), ['2021-03-14T07:00:00Z', '2021-03-15T06:30:00Z']);
  });

  test('fall back: a fixed time fires once, at its first pass; an hourly job fires in both passes', () => {
    assert.deepEqual(next('30 2 * * *', 'Europe/Berlin', '2020-10-24T12:00:00Z', 2), ['2020-10-25T00:30:00Z', '2020-10-26T01:30:00Z']);
    assert.deepEqual(next('*/30 * * * *', 'Europe/Berlin', '2020-10-24T23:50:00Z', 5), [
      '2020-10-25T00:00:00Z', // 02:00 CEST
      '2020-10-25T00:30:00Z', // 02:30 CEST
      '2020-10-25T01:00:00Z', // 02:00 CET
      '2020-10-25T01:30:00Z', // 02:30 CET
      '2020-10-25T02:00:00Z',
    ]);
    assert.deepEqual(next('30 1 * * *', 'America/New_York', '2021-11-06T12:00:00Z', 2), ['2021-11-07T05:30:00Z', '2021-11-08T06:30:00Z']);
  });

  test('previous fire time', () => {
    const spec = parseCron('30 2 * * *');
    assert.equal(new Date(previousFireTime(spec, 'UTC', Date.parse('2024-05-02T02:29:59Z'))!).toISOString(), '2024-05-01T02:30:00.000Z');
    assert.equal(new Date(previousFireTime(spec, 'UTC', Date.parse('2024-05-02T02:30:00Z'))!).toISOString(), '2024-05-02T02:30:00.000Z');
    assert.equal(new Date(previousFireTime(spec, 'Europe/Berlin', Date.parse('2021-03-28T01:05:00Z'))!).toISOString(), '2021-03-28T01:00:00.000Z');
  });

  test('away from DST changes our times equal node-cron 4.6 (its matcher, stepped from a fixed start)', () => {
    const exprs = ['*/7 * * * *', '15 3 * * 1-5', '0 */5 * * *', '0 0 1,15 * *', '10 4 * 2,6 *', '0 0 L * *', '0 12 * * 5L', '5 5 * * 2#3', '*/20 * * * * *'];
    for (const expr of exprs) {
      for (const tz of ['UTC', 'Europe/Berlin', 'Asia/Kolkata']) {
        const task = cron.createTask(expr, () => undefined, { timezone: tz });
        const matcher = (task as unknown as { timeMatcher: { getNextMatch(d: Date): Date } }).timeMatcher;
        let at = new Date('2024-05-03T10:00:00Z');
        const theirs: number[] = [];
        for (let i = 0; i < 40; i++) theirs.push((at = matcher.getNextMatch(at)).getTime());
        assert.deepEqual(iso(nextFireTimes(parseCron(expr), tz, Date.parse('2024-05-03T10:00:00Z'), 40)), iso(theirs), `${expr} in ${tz}`);
        void task.destroy();
      }
    }
  });
});

// What node-cron 4.6 does by itself, and why the daemon does not rely on its ticks alone.
// If one of these starts failing, node-cron changed: revisit README "Scheduling and node-cron".
describe("node-cron 4.6's shortcomings", () => {
  const matcherOf = (expr: string, tz: string) => {
    const task = cron.createTask(expr, () => undefined, { timezone: tz });
    void task.destroy();
    return (task as unknown as { timeMatcher: { getNextMatch(d: Date): Date } }).timeMatcher;
  };

  test('DST gap: a 02:30 job does not fire at all on the spring-forward night', () => {
    const m = matcherOf('30 2 * * *', 'Europe/Berlin');
    assert.equal(m.getNextMatch(new Date('2021-03-27T12:00:00Z')).toISOString(), '2021-03-29T00:30:00.000Z');
    assert.equal(next('30 2 * * *', 'Europe/Berlin', '2021-03-27T12:00:00Z', 1)[0], '2021-03-28T01:00:00Z'); // ours: 03:00 CEST
  });

  test('DST overlap: an every-30-minutes job skips the first pass of the repeated hour', () => {
    const m = matcherOf('*/30 * * * *', 'Europe/Berlin');
    assert.equal(m.getNextMatch(new Date('2020-10-24T23:50:00Z')).toISOString(), '2020-10-25T01:00:00.000Z'); // 02:00 CET: 02:00 and 02:30 CEST never ran
  });

  test('missed runs: a tick delayed by a blocked event loop is reported missed and never run', async () => {
    const fired: number[] = [];
    const missed: Date[] = [];
    const task = cron.createTask('* * * * * *', () => void fired.push(Date.now()), { suppressMissedWarning: true });
    task.on('execution:missed', (ctx) => void missed.push(ctx.date));
    await task.start();
    await new Promise((r) => setTimeout(r, 1100));
    const blockedFrom = Date.now();
    while (Date.now() - blockedFrom < 2500) {
      // busy: the host "hangs" for 2.5 s
    }
    await new Promise((r) => setTimeout(r, 1200));
    await task.destroy();
    assert.ok(missed.length >= 1, `missed ${missed.length}`);
    const ranLate = fired.filter((t) => t > blockedFrom + 2500 + 50 && missed.some((m) => Math.abs(t - m.getTime()) < 900));
    assert.equal(ranLate.length, 0, 'no missed slot was run afterwards');
  });
});
