import { test } from 'node:test';
import assert from 'node:assert/strict';
import { instantOf, isoWeek, isValidTimeZone, offsetAt, wallTime } from '../../src/util/timezone.js';

const w = (year: number, month: number, day: number, hour: number, minute = 0) => ({ year, month, day, hour, minute, second: 0, millisecond: 0 });

test('wall time and offsets in a zone with DST', () => {
  assert.deepEqual(wallTime(Date.parse('2021-03-28T01:00:00Z'), 'Europe/Berlin'), { ...w(2021, 3, 28, 3), millisecond: 0 });
  assert.equal(offsetAt(Date.parse('2021-01-01T00:00:00Z'), 'Europe/Berlin'), 3_600_000);
  assert.equal(offsetAt(Date.parse('2021-07-01T00:00:00Z'), 'America/New_York'), -4 * 3_600_000);
});

test('instantOf: a wall time in the spring-forward gap moves forward by the gap; an overlap takes the later reading east of UTC, the earlier west of it', () => {
  assert.equal(new Date(instantOf(w(2021, 3, 28, 2, 30), 'Europe/Berlin')).toISOString(), '2021-03-28T01:30:00.000Z'); // 03:30 CEST
  assert.equal(new Date(instantOf(w(2020, 10, 25, 2, 30), 'Europe/Berlin')).toISOString(), '2020-10-25T01:30:00.000Z'); // 02:30 CET
  assert.equal(new Date(instantOf(w(2021, 11, 7, 1, 30), 'America/New_York')).toISOString(), '2021-11-07T05:30:00.000Z'); // 01:30 EDT
  assert.equal(new Date(instantOf(w(2021, 1, 31, 12), 'Asia/Kolkata')).toISOString(), '2021-01-31T06:30:00.000Z');
});

test('ISO weeks', () => {
  assert.deepEqual(isoWeek(2021, 1, 3), { year: 2020, week: 53 });
  assert.deepEqual(isoWeek(2021, 1, 4), { year: 2021, week: 1 });
  assert.deepEqual(isoWeek(2025, 12, 29), { year: 2026, week: 1 });
  assert.deepEqual(isoWeek(2024, 12, 30), { year: 2025, week: 1 });
  assert.deepEqual(isoWeek(2027, 1, 1), { year: 2026, week: 53 });
});

test('time zone names are checked by Intl', () => {
  assert.ok(isValidTimeZone('Europe/Berlin'));
  assert.ok(isValidTimeZone('UTC'));
  assert.ok(!isValidTimeZone('Mars/Olympus'));
});
