// The scheduler daemon with real backups against the engine: a schedule every two
// seconds whose backup outlasts its period (the overlapping ticks are skipped), a
// yearly schedule whose slot passed while the daemon was down (caught up at start),
// and SIGTERM in the middle of a run: the daemon exits cleanly with nothing frozen.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { dockerCli, engineA, fixtures, integrationSkip, tmpDir } from '../helpers.js';
import { newRepo, tsbakJson } from './support.js';

const skip = integrationSkip();
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface LogEntry {
  event: string;
  schedule?: string;
  trigger?: string;
  outcome?: string;
  reason?: string;
  clean?: boolean;
  errors?: string[];
}

/** Frozen cgroups anywhere in the v1 freezer or v2 trees below docker/. */
function frozenCgroups(): string[] {
  const found: string[] = [];
  for (const [dir, file, frozen] of [
    ['/sys/fs/cgroup/freezer/docker', 'freezer.state', 'FROZEN'],
    ['/sys/fs/cgroup/unified/docker', 'cgroup.freeze', '1'],
  ] as const) {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const e of entries) {
      try {
        if (readFileSync(path.join(dir, e, file), 'utf8').trim() === frozen) found.push(path.join(dir, e));
      } catch {
        // not a cgroup directory
      }
    }
  }
  return found;
}

test('the daemon runs real backups, skips overlapping runs, catches up a missed one, and stops on SIGTERM with nothing frozen', { skip, timeout: 240_000 }, async () => {
  const fx = fixtures();
  const tag = randomBytes(3).toString('hex');
  const name = `sched-${tag}`;
  const vol = `sched-${tag}`;
  // The pre-backup hook makes every backup of this container take ≥ 3 s: longer than the 2 s period.
  const run = await dockerCli(['run', '-d', '--name', name, '--network', 'none', '-l', 'tsbak.pre-backup=sleep 3', '-v', `${vol}:/data`, fx.base.name, 'sh', '-c', 'while true; do date > /data/now; sleep 0.05; done']);
  assert.equal(run.code, 0, run.stderr);
  const repo = await newRepo();
  const dir = tmpDir('tsbak-sched-');
  const schedules = path.join(dir, 'schedules');
  mkdirSync(schedules);
  writeFileSync(path.join(schedules, 'often.yaml'), `cron: "*/2 * * * * *"\nselect:\n  containers: [${name}]\nrepository: ${repo}\n`);
  writeFileSync(path.join(schedules, 'yearly.yaml'), `cron: "0 0 1 1 *"\nselect:\n  images: [${fx.base.name}]\nrepository: ${repo}\n`);
  // The daemon last ran the yearly schedule in mid-2025: the 1 January 2026 slot was missed.
  const state = path.join(dir, 'state.json');
  writeFileSync(state, JSON.stringify({ version: 1, schedules: { yearly: { lastSlot: Date.parse('2025-06-01T00:00:00Z') } } }));

  const daemon = spawn(process.execPath, [MAIN, 'schedule', 'run', '--dir', schedules, '--state', state], {
    env: { ...process.env, DOCKER_HOST: engineA() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  daemon.stdout.on('data', (c: Buffer) => (out += c.toString()));
  daemon.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
  const entries = (): LogEntry[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogEntry);
  const waitFor = async (what: string, probe: (e: LogEntry[]) => boolean, ms = 90_000) => {
    const deadline = Date.now() + ms;
    while (!probe(entries())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; log:\n${out}\nstderr:\n${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    await waitFor('the caught-up yearly run to finish', (e) => e.some((x) => x.event === 'run-finished' && x.schedule === 'yearly'));
    const yearly = entries().filter((x) => x.schedule === 'yearly');
    assert.equal(yearly.find((x) => x.event === 'run-started')?.trigger, 'catch-up');
    assert.equal(yearly.find((x) => x.event === 'run-finished')?.outcome, 'success', JSON.stringify(yearly));
    await waitFor('a finished frequent run', (e) => e.some((x) => x.event === 'run-finished' && x.schedule === 'often'));
    const finished = entries().find((x) => x.event === 'run-finished' && x.schedule === 'often');
    assert.equal(finished?.outcome, 'success', JSON.stringify(finished));
    await waitFor('a skipped overlapping tick', (e) => e.some((x) => x.event === 'run-skipped' && x.schedule === 'often'));
    // Stop in the middle of a run: while its hook runs, before the freeze.
    const started = entries().filter((x) => x.event === 'run-started' && x.schedule === 'often').length;
    await waitFor('the next frequent run to start', (e) => e.filter((x) => x.event === 'run-started' && x.schedule === 'often').length > started);
    await new Promise((r) => setTimeout(r, 1000));
    daemon.kill('SIGTERM');
    assert.equal(await exited, 0, err);
    const stopped = entries().find((x) => x.event === 'daemon-stopped');
    assert.equal(stopped?.clean, true, out);
    assert.deepEqual(frozenCgroups(), [], 'nothing is left frozen');
    const snapshots = await tsbakJson<{ id: string; tags: string[] }[]>(['snapshots', '--repo', repo]);
    assert.ok(snapshots.some((s) => s.tags.includes('schedule:yearly')));
    assert.ok(snapshots.some((s) => s.tags.includes('schedule:often')));
    const inspect = await dockerCli(['inspect', '--format', '{{.State.Status}}', name]);
    assert.equal(inspect.stdout.trim(), 'running', 'the container runs on, thawed');
    const saved = JSON.parse(readFileSync(state, 'utf8')) as { schedules: Record<string, { lastSlot: number }> };
    assert.ok((saved.schedules.yearly?.lastSlot ?? 0) >= Date.parse('2026-01-01T00:00:00Z') - 86_400_000, 'the caught-up slot is recorded');
  } finally {
    daemon.kill('SIGKILL');
    await dockerCli(['rm', '-f', name]);
    await dockerCli(['volume', 'rm', vol]);
  }
});
