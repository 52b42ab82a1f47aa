import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadScheduleDir, loadScheduleFile, parseScheduleText, ScheduleError, formatProblem } from '../../src/schedule/load.js';
import { parseJitter } from '../../src/schedule/schema.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function problems(text: string): string[] {
  try {
    parseScheduleText(text, 'x.yaml');
  } catch (err) {
    assert.ok(err instanceof ScheduleError, String(err));
    return err.problems.map(formatProblem);
  }
  assert.fail('expected a ScheduleError');
}

describe('schedule files', () => {
  test('the example schedules/nightly.yaml loads as documented', async () => {
    const s = await loadScheduleFile(path.join(root, 'schedules/nightly.yaml'));
    assert.equal(s.name, 'nightly');
    assert.equal(s.cron, '30 2 * * *');
    assert.equal(s.jitterMs, 300_000);
    assert.equal(s.select.all, true);
    assert.deepEqual(s.retention, { daily: 7, weekly: 4, monthly: 12 });
    assert.equal(s.prune, true);
    assert.deepEqual(s.check, { readData: false, readDataSubset: '5%' });
    assert.deepEqual(s.notify.webhooks, [{ url: 'https://hooks.example.com/tsbak', on: 'failure' }]);
  });

  test('61 25 * * * names file, line, field and both bad cron fields', () => {
    assert.deepEqual(problems('name: n\ncron: "61 25 * * *"\nselect: all\n'), [
      'x.yaml:2:7: cron: minute "61" is out of range or malformed (field 1 of "61 25 * * *")',
      'x.yaml:2:7: cron: hour "25" is out of range or malformed (field 2 of "61 25 * * *")',
    ]);
  });

  test('nested fields: a negative keep count, an unknown selector, a bad zone, a missing cron', () => {
    const text = [
      'name: n', //                   1
      'timezone: Mars/Olympus', //    2
      'select:', //                   3
      '  volumes: [a]', //            4
      '  networks: [b]', //           5
      'retention:', //                6
      '  keepDaily: -1', //           7
      '  keepWithin: 3w', //          8
      'notify:', //                   9
      '  webhooks:', //              10
      '    - url: ftp://x', //       11
      '      on: sometimes', //      12
      'metrics: /tmp/x.txt', //      13
    ].join('\n');
    const p = problems(text);
    const fields = p.map((x) => x.split(': ')[0] + ': ' + x.split(': ')[1]);
    assert.deepEqual(fields, [
      'x.yaml:1:1: cron',
      'x.yaml:2:11: timezone',
      'x.yaml:5:3: select.networks',
      'x.yaml:7:14: retention.keepDaily',
      'x.yaml:8:15: retention.keepWithin',
      'x.yaml:11:12: notify.webhooks.0.url',
      'x.yaml:12:11: notify.webhooks.0.on',
      'x.yaml:13:10: metrics',
    ]);
    assert.match(p[0]!, /cron: is required/);
    assert.match(p[2]!, /unknown field "networks"/);
    assert.match(p[3]!, /a keep count must be 0 or more, not -1/);
    assert.match(p[7]!, /ending in \.prom/);
  });

  test('malformed YAML is reported with its line', () => {
    const p = problems('name: n\ncron: "0 1 * * *"\nselect: [all\n');
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^x\.yaml:\d+:\d+: not valid YAML/);
    assert.match(problems('- a\n- b\n')[0]!, /x\.yaml:1:1: a schedule file is a YAML mapping/);
  });

  test('defaults: name from the file, the host zone, no jitter, freeze, failure-only webhooks', () => {
    const s = parseScheduleText('cron: "0 1 * * *"\nselect: { containers: pg, label: tsbak.backup=true }\nnotify: { webhooks: [ { url: "http://h/x" } ] }\n', '/d/db-hourly.yml');
    assert.equal(s.name, 'db-hourly');
    assert.equal(s.jitterMs, 0);
    assert.equal(s.quiesce, 'freeze');
    assert.deepEqual(s.select, { all: false, images: [], volumes: [], containers: ['pg'], labels: ['tsbak.backup=true'] });
    assert.deepEqual(s.notify.webhooks, [{ url: 'http://h/x', on: 'failure' }]);
    assert.ok(s.timezone.length > 0);
  });

  test('a directory: duplicate names and broken files are reported, the rest load', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsbak-sched-'));
    try {
      writeFileSync(path.join(dir, 'a.yaml'), 'name: same\ncron: "0 1 * * *"\nselect: all\n');
      writeFileSync(path.join(dir, 'b.yaml'), 'name: same\ncron: "0 2 * * *"\nselect: all\n');
      writeFileSync(path.join(dir, 'c.yaml'), 'cron: "0 3 * * *"\nselect: all\n');
      writeFileSync(path.join(dir, 'd.yaml'), 'cron: "0 3 * *"\nselect: all\n');
      writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
      const loaded = await loadScheduleDir(dir);
      assert.deepEqual(loaded.schedules.map((s) => s.name), ['same', 'c']);
      assert.deepEqual(loaded.broken.map((b) => path.basename(b.file)), ['b.yaml', 'd.yaml']);
      assert.match(loaded.broken[0]!.error.message, /b\.yaml:1:1: name: schedule "same" is already defined in .*a\.yaml/);
      assert.match(loaded.broken[1]!.error.message, /d\.yaml:1:7: cron: "0 3 \* \*" has 4 field\(s\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('jitter durations', () => {
    assert.equal(parseJitter('1h30m'), 5_400_000);
    assert.equal(parseJitter(90), 90_000);
    assert.throws(() => parseJitter('soon'), /not a duration/);
  });
});
