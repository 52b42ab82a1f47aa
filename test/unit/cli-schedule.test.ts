// The forget and schedule commands through the real CLI, on a local repository of
// synthetic snapshots (no engine needed).
import { access } from '../repo-access.js';
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Repository } from '../../src/repo/repository.js';
import { openBackend } from '../../src/repo/locate.js';
import { parseSnapshotTime } from '../../src/ops/snapshot-doc.js';
import type { Snapshot } from '../../src/repo/snapshot.js';

const execFileP = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const main = path.join(root, 'dist/src/cli/main.js');

async function tsbak(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileP(process.execPath, [main, ...args], { env: { ...process.env, TZ: 'UTC', ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function doc(time: string, hostname: string, volume: string, tags: string[] = []): Snapshot {
  return {
    version: 1,
    time,
    hostname,
    tags,
    tool: 'tsbak test',
    source: { kind: 'engine', host: 'unix:///x' },
    images: [],
    volumes: [{ name: volume } as Snapshot['volumes'][number]],
    containers: [],
  };
}

describe('tsbak forget', () => {
  let dir: string;
  let repoDir: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tsbak-forget-'));
    repoDir = path.join(dir, 'repo');
    const repo = await Repository.init(openBackend(repoDir), access);
    for (let d = 1; d <= 10; d++) {
      await repo.saveSnapshot(doc(`2026-11-${String(d).padStart(2, '0')}T02:30:00.000Z`, 'web1', 'pgdata', d === 2 ? ['release'] : []));
      await repo.saveSnapshot(doc(`2026-11-${String(d).padStart(2, '0')}T14:30:00.000Z`, 'web1', 'pgdata'));
    }
    await repo.saveSnapshot(doc('2026-11-05T03:00:00.000Z', 'web2', 'uploads'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('--dry-run --json: each group with kept snapshots and their reasons', async () => {
    const r = await tsbak(['forget', '--repo', repoDir, '--keep-daily', '3', '--keep-tag', 'release', '--dry-run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { policy: string; groups: { key: unknown; keep: { time: string; reasons: { matches: string[] } }[]; remove: unknown[] }[] };
    assert.equal(plan.policy, 'keep 3 daily snapshots, all snapshots with tags [release]');
    assert.deepEqual(plan.groups.map((g) => g.key), [
      { hostname: 'web1', source: ['volume:pgdata'] },
      { hostname: 'web2', source: ['volume:uploads'] },
    ]);
    const web1 = plan.groups[0]!;
    assert.deepEqual(web1.keep.map((k) => [k.time, k.reasons.matches]), [
      ['2026-11-10T14:30:00.000Z', ['daily snapshot']],
      ['2026-11-09T14:30:00.000Z', ['daily snapshot']],
      ['2026-11-08T14:30:00.000Z', ['daily snapshot']],
      ['2026-11-02T02:30:00.000Z', ['has tags [release]']],
    ]);
    assert.equal(web1.remove.length, 16);
    assert.deepEqual(plan.groups[1]!.keep[0]!.reasons.matches, ['daily snapshot']);
    // With only a tag rule, web2's single untagged snapshot still stays: a group is never emptied.
    const tagOnly = JSON.parse((await tsbak(['forget', '--repo', repoDir, '--keep-tag', 'release', '--dry-run', '--json'])).stdout) as typeof plan;
    assert.match(tagOnly.groups[1]!.keep[0]!.reasons.matches[0]!, /newest of its group/);
  });

  test('human output and --group-by host, --timezone', async () => {
    const r = await tsbak(['forget', '--repo', repoDir, '--keep-last', '1', '--group-by', 'host', '--timezone', 'Asia/Tokyo', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^group host web1:$/m);
    assert.match(r.stdout, /^ {2}keep {4}[0-9a-f]{8} {2}2026-11-10T14:30:00.000Z {2}last snapshot$/m);
    assert.match(r.stdout, /would keep 2 and remove 19 snapshot\(s\) \(dry run\)/);
  });

  test('bad input: negative count, bad duration, bad group, no --dry-run', async () => {
    const neg = await tsbak(['forget', '--repo', repoDir, '--keep-daily', '-1', '--dry-run']);
    assert.equal(neg.code, 2);
    assert.match(neg.stderr, /--keep-daily -1: a keep count must be 0 or more/);
    const dur = await tsbak(['forget', '--repo', repoDir, '--keep-within', '2w', '--dry-run']);
    assert.equal(dur.code, 2);
    assert.match(dur.stderr, /--keep-within: "2w" is not a duration/);
    const grp = await tsbak(['forget', '--repo', repoDir, '--keep-last', '1', '--group-by', 'paths', '--dry-run']);
    assert.match(grp.stderr, /"paths" is not a group field/);
    const real = await tsbak(['forget', '--repo', repoDir, '--keep-last', '1']);
    assert.equal(real.code, 2);
    assert.match(real.stderr, /can only plan for now \(--dry-run\)/);
  });
});

describe('tsbak schedule', () => {
  test('validate names file, line and field; list shows the next 3 run times in the zone', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsbak-sched-cli-'));
    try {
      writeFileSync(path.join(dir, 'a.yaml'), 'cron: "30 2 * * *"\ntimezone: Europe/Berlin\nselect: all\n');
      const list = await tsbak(['schedule', 'list', '--dir', dir, '--json']);
      assert.equal(list.code, 0, list.stderr);
      const doc = JSON.parse(list.stdout) as { schedules: { name: string; next: string[] }[] };
      assert.equal(doc.schedules[0]?.name, 'a');
      assert.equal(doc.schedules[0]?.next.length, 3);
      for (const n of doc.schedules[0]!.next) assert.match(n, /T02:30:00\+0[12]:00$/);
      writeFileSync(path.join(dir, 'b.yaml'), 'cron: "61 25 * * *"\nselect: {networks: [x]}\n');
      const bad = await tsbak(['schedule', 'validate', '--dir', dir]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /b\.yaml:1:7: cron: minute "61"/);
      assert.match(bad.stderr, /b\.yaml:2:10: select\.networks: unknown field "networks"/);
      const ok = await tsbak(['schedule', 'validate', '--dir', path.join(root, 'schedules')]);
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('run: the daemon runs the job, logs its failure (no repository there) as JSON lines and stops on SIGTERM', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsbak-sched-run-'));
    try {
      mkdirSync(path.join(dir, 's'));
      writeFileSync(path.join(dir, 's', 'x.yaml'), `cron: "* * * * * *"\nselect: all\nrepository: ${path.join(dir, 'no-repo')}\n`);
      const child = spawn(process.execPath, [main, 'schedule', 'run', '--dir', path.join(dir, 's'), '--state', path.join(dir, 'state.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      for (let i = 0; i < 100 && !out.includes('"run-finished"'); i++) await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      const finished = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.event === 'run-finished');
      assert.equal(finished?.outcome, 'failure', out);
      assert.deepEqual(finished?.errors, [`no repository at ${path.join(dir, 'no-repo')}; create one with \`tsbak init --repo ${path.join(dir, 'no-repo')}\``]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('backup --time: ISO with a zone, or restic\'s local form', () => {
  assert.equal(parseSnapshotTime('2026-01-31T02:30:00+01:00').toISOString(), '2026-01-31T01:30:00.000Z');
  assert.equal(parseSnapshotTime('2026-01-31T02:30:00Z').toISOString(), '2026-01-31T02:30:00.000Z');
  const local = parseSnapshotTime('2026-01-31 02:30:00');
  assert.equal(local.getHours(), 2);
  assert.equal(local.getDate(), 31);
  assert.throws(() => parseSnapshotTime('yesterday'), /--time yesterday: write an ISO 8601 time/);
  assert.throws(() => parseSnapshotTime('2026-01-31'), /--time/);
});
