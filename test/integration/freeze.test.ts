// The cgroup freezer against real containers on engine A: v2 and v1, groups, a custom
// cgroup parent, clear errors, the freeze limit, every way out (thaw, SIGTERM, SIGKILL
// with the watchdog), and `tsbak thaw` recovery.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, afterEach, test } from 'node:test';
import { dockerCli, engineA, fixtures, integrationSkip, runTsbak, type ExecResult } from '../helpers.js';
import { findCgroups, type ProcessCgroups } from '../../src/freeze/cgroup.js';
import { FreezeError } from '../../src/freeze/errors.js';
import { freezeContainers, type CgroupVersion, type FreezeTarget } from '../../src/freeze/freezer.js';
import type { ThawReport } from '../../src/freeze/recover.js';
import { stateDir, type FreezeState } from '../../src/freeze/state.js';

const skip = integrationSkip();
const SUPPORT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support');
const RUN_ID = `${process.pid.toString(36)}${Date.now().toString(36)}`;

interface Counter extends FreezeTarget {
  /**
   * The counter file seen from the host: the loop rewrites /out/c, on a tmpfs (no disk I/O
   * that could stall it on a busy machine), with an ever larger number.
   */
  file: string;
}

// Each counter keeps a core busy, and the machine has two: remove a test's containers when it ends.
const containers: string[] = [];
const cgroupParents: string[] = [];
afterEach(async () => {
  if (containers.length > 0) await dockerCli(['rm', '-f', ...containers.splice(0)]);
});
after(async () => {
  for (const parent of cgroupParents) {
    for (const h of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/freezer', '/sys/fs/cgroup']) {
      try {
        rmdirSync(path.join(h, parent));
      } catch {
        // not there, or another hierarchy
      }
    }
  }
});

async function waitFor(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}

let seq = 0;
async function startCounter(label: string, extra: string[] = []): Promise<Counter> {
  const name = `tsbak-freeze-${label}-${RUN_ID}-${seq++}`;
  const loop = 'i=0; while true; do i=$((i+1)); echo $i > /out/c; done';
  const r = await dockerCli(['run', '-d', '--name', name, '--network', 'none', '--tmpfs', '/out', ...extra, fixtures().base.name, 'sh', '-c', loop]);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  containers.push(id);
  const pid = Number((await dockerCli(['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim());
  assert.ok(pid > 0, `container ${name} has no pid`);
  const file = `/proc/${pid}/root/out/c`;
  await waitFor(`counter of ${name} starts`, 10_000, () => existsSync(file));
  return { id, name, pid, file };
}

/** The counter file as it is (it may be caught empty between truncate and write). */
function counter(c: Counter): string {
  return readFileSync(c.file, 'utf8');
}

async function assertStopped(c: Counter, ms = 250): Promise<void> {
  const a = counter(c);
  await sleep(ms);
  assert.equal(counter(c), a, `container ${c.name} kept running while it should be frozen`);
}

/** Resolves with the ms it took the counter to move. */
function assertAdvances(c: Counter, withinMs: number): Promise<number> {
  const a = counter(c);
  return waitFor(`counter of ${c.name} advances`, withinMs, () => counter(c) !== a);
}

async function cgroupsOf(c: Counter): Promise<ProcessCgroups> {
  return findCgroups(c.pid);
}

/** The kernel says thawed in both hierarchies. */
function isThawed(cg: ProcessCgroups): boolean {
  return !v2Frozen(cg) && v1State(cg) === 'THAWED';
}

/**
 * The kernel reports the container thawed within `withinMs` (what tsbak controls), and its
 * counter then moves within `counterMs` (default 3 s: the scheduler of a busy 2-core machine
 * decides that). Resolves with the ms until the kernel said thawed.
 */
async function assertResumes(c: Counter, withinMs: number, counterMs = 3_000): Promise<number> {
  const cg = await cgroupsOf(c);
  const a = counter(c);
  const thawedAfter = await waitFor(`container ${c.name} thawed`, withinMs, () => isThawed(cg));
  await waitFor(`counter of ${c.name} advances after the thaw`, counterMs, () => counter(c) !== a);
  return thawedAfter;
}

function v2Frozen(cg: ProcessCgroups): boolean {
  return /^frozen 1$/m.test(readFileSync(path.join(cg.v2Dir as string, 'cgroup.events'), 'utf8'));
}

function v1State(cg: ProcessCgroups): string {
  return readFileSync(path.join(cg.v1Dir as string, 'freezer.state'), 'utf8').trim();
}

function stateFiles(): { file: string; state: FreezeState }[] {
  const dir = stateDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .flatMap((n) => {
      try {
        return [{ file: path.join(dir, n), state: JSON.parse(readFileSync(path.join(dir, n), 'utf8')) as FreezeState }];
      } catch {
        return [];
      }
    });
}

function stateFilesOf(pid: number): { file: string; state: FreezeState }[] {
  return stateFiles().filter((s) => s.state.pid === pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Hanging {
  child: ChildProcess;
  exited: Promise<void>;
}

/** Runs support/freeze-and-hang.js: it freezes through the API and hangs; resolves once frozen. */
async function freezeInChild(
  targets: FreezeTarget[],
  opts: { watchdog: boolean; version?: CgroupVersion; maxFreezeMs?: number; then?: 'hang' | 'throw' | 'exit' },
): Promise<Hanging> {
  const args = JSON.stringify({ targets, version: opts.version ?? 'auto', maxFreezeMs: opts.maxFreezeMs ?? 60_000, watchdog: opts.watchdog, then: opts.then });
  const child = spawn(process.execPath, [path.join(SUPPORT, 'freeze-and-hang.js'), args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let out = '';
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve();
    });
    child.on('exit', (code, sig) => reject(new Error(`freeze-and-hang exited (${sig ?? code}) before freezing: ${err}`)));
  });
  return { child, exited };
}

let cliHasThaw: boolean | undefined;
/** `tsbak thaw …` against engine A: the real CLI once main.ts registers the command, else the same module in support/thaw-cli.js. */
async function tsbakThaw(args: string[]): Promise<ExecResult> {
  const env = { DOCKER_HOST: engineA() };
  cliHasThaw ??= /tsbak thaw\b/.test((await runTsbak(['--help'], { env })).stdout);
  if (cliHasThaw) return runTsbak(['thaw', ...args], { env });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(SUPPORT, 'thaw-cli.js'), 'thaw', ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

test('v2: cgroup.freeze stops the container, cgroup.events says frozen, thaw resumes it', { skip }, async () => {
  const c = await startCounter('v2');
  const cg = await cgroupsOf(c);
  assert.ok(cg.v2Dir, 'container has a v2 cgroup with cgroup.freeze');
  const group = await freezeContainers([c], { version: 'v2', maxFreezeMs: 10_000 });
  assert.deepEqual(group.members.map((m) => [m.id, m.version, m.dir]), [[c.id, 'v2', cg.v2Dir]]);
  assert.ok(v2Frozen(cg));
  assert.equal(stateFilesOf(process.pid).length, 1, 'the freeze is recorded in a state file');
  await assertStopped(c);
  const reports = await group.thaw();
  assert.equal(reports.length, 1);
  const r = reports[0]!;
  assert.equal(r.version, 'v2');
  assert.equal(r.exceeded, false);
  assert.ok(r.windowMs >= 250 && r.windowMs < 5_000, `window ${r.windowMs} ms`);
  assert.ok(!v2Frozen(cg));
  await assertResumes(c, 2_000);
  assert.equal(stateFilesOf(process.pid).length, 0, 'the state file is removed after the thaw');
  // idempotent
  assert.deepEqual(await group.thaw(), reports);
});

test('v1: freezer.state goes FROZEN, the container stops; thaw makes it THAWED and it resumes', { skip }, async () => {
  const c = await startCounter('v1');
  const cg = await cgroupsOf(c);
  assert.ok(cg.v1Dir, 'container has a v1 freezer cgroup');
  const group = await freezeContainers([c], { version: 'v1', maxFreezeMs: 10_000, watchdog: false });
  assert.equal(v1State(cg), 'FROZEN');
  await assertStopped(c);
  const [r] = await group.thaw();
  assert.equal(r?.version, 'v1');
  assert.equal(v1State(cg), 'THAWED');
  await assertResumes(c, 2_000);
});

test('two containers freeze together and thaw together; round trip measured', { skip }, async (t) => {
  const a = await startCounter('pair-a');
  const b = await startCounter('pair-b');
  const group = await freezeContainers([a, b], { maxFreezeMs: 10_000 });
  await Promise.all([assertStopped(a), assertStopped(b)]);
  const reports = await group.thaw();
  assert.deepEqual(reports.map((r) => [r.name, r.version]), [[a.name, 'v2'], [b.name, 'v2']]);
  await Promise.all([assertResumes(a, 2_000), assertResumes(b, 2_000)]);

  const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)] as number;
  for (const version of ['v2', 'v1'] as const) {
    for (const watchdog of [false, true]) {
      for (const targets of [[a], [a, b]]) {
        const total: number[] = [];
        const window: number[] = [];
        for (let i = 0; i < 7; i++) {
          const t0 = process.hrtime.bigint();
          const g = await freezeContainers(targets, { version, maxFreezeMs: 10_000, watchdog });
          const rs = await g.thaw();
          total.push(Number(process.hrtime.bigint() - t0) / 1e6);
          window.push(Math.max(...rs.map((r) => r.windowMs)));
        }
        t.diagnostic(
          `freeze+thaw ${version} ${targets.length} container(s) watchdog=${watchdog}: round trip median ${median(total).toFixed(2)} ms ` +
            `(min ${Math.min(...total).toFixed(2)}), freeze window median ${median(window).toFixed(2)} ms`,
        );
      }
    }
  }
  await Promise.all([assertResumes(a, 2_000), assertResumes(b, 2_000)]);
});

test('a container under a custom --cgroup-parent is found and frozen', { skip }, async () => {
  const parent = `/tsbak-test-${RUN_ID}`;
  cgroupParents.push(parent);
  const c = await startCounter('parent', ['--cgroup-parent', parent]);
  const cg = await cgroupsOf(c);
  assert.equal(cg.v2Path, `${parent}/${c.id}`);
  const group = await freezeContainers([c], { maxFreezeMs: 10_000, watchdog: false });
  assert.ok(v2Frozen(cg));
  await assertStopped(c);
  await group.thaw();
  await assertResumes(c, 2_000);
});

test('a stopped container gives a clear error and nothing is left frozen', { skip }, async () => {
  const running = await startCounter('ok');
  const stopped = await startCounter('stopped');
  assert.equal((await dockerCli(['rm', '-f', stopped.id])).code, 0);
  // its old pid: /proc/<pid>/cgroup is gone
  await assert.rejects(
    freezeContainers([running, stopped], { maxFreezeMs: 10_000 }),
    (e: unknown) =>
      e instanceof FreezeError && e.container === stopped.name && /^container `[^`]+` could not be frozen: its process \d+ is gone \(was it stopped\?\)$/.test(e.message),
  );
  // pid 0, as docker inspect reports for a container that is not running
  await assert.rejects(freezeContainers([{ ...stopped, pid: 0 }], { maxFreezeMs: 10_000 }), /could not be frozen: it is not running/);
  await assertAdvances(running, 3_000);
  assert.equal(stateFilesOf(process.pid).length, 0);
});

test('the freeze limit: the timer thaws on its own and thaw() reports exceeded', { skip }, async () => {
  const c = await startCounter('limit');
  const group = await freezeContainers([c], { maxFreezeMs: 300 });
  await assertStopped(c, 100);
  // nobody calls thaw(): the timer must
  const resumedAfter = await assertResumes(c, 2_000);
  assert.ok(group.exceeded);
  const [r] = await group.thaw();
  assert.equal(r?.exceeded, true);
  assert.ok(r!.windowMs >= 290 && r!.windowMs < 1_500, `window ${r!.windowMs} ms (resumed after ${resumedAfter} ms)`);
  assert.equal(stateFilesOf(process.pid).length, 0);
});

test('a container paused by docker is left paused, by freeze/thaw and by tsbak thaw --all', { skip }, async () => {
  const c = await startCounter('paused');
  assert.equal((await dockerCli(['pause', c.id])).code, 0);
  try {
    const cg = await cgroupsOf(c);
    const group = await freezeContainers([c], { version: 'v1', maxFreezeMs: 10_000, watchdog: false });
    const [r] = await group.thaw();
    assert.equal(r?.alreadyFrozen, true);
    assert.equal(v1State(cg), 'FROZEN');
    await assertStopped(c, 150);
    const res = await tsbakThaw(['--all', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const report = JSON.parse(res.stdout) as ThawReport;
    const mine = report.entries.filter((e) => e.id === c.id);
    assert.ok(mine.length > 0, 'the scan sees the paused container');
    assert.ok(mine.every((e) => e.result === 'skipped' && /docker unpause/.test(e.note ?? '')), JSON.stringify(mine));
    assert.equal((await dockerCli(['inspect', '-f', '{{.State.Paused}}', c.id])).stdout.trim(), 'true');
    await assertStopped(c, 150);
  } finally {
    await dockerCli(['unpause', c.id]);
  }
  await assertResumes(c, 2_000);
});

test('SIGTERM without a watchdog: the exit path thaws', { skip }, async () => {
  const c = await startCounter('sigterm');
  const h = await freezeInChild([c], { watchdog: false });
  await assertStopped(c);
  h.child.kill('SIGTERM');
  await h.exited;
  assert.equal(h.child.signalCode, 'SIGTERM', 'the process still dies of the signal');
  await assertResumes(c, 1_000);
  assert.equal(stateFilesOf(h.child.pid as number).length, 0);
});

test('an uncaught exception, and process.exit without thaw(), thaw on the way out', { skip }, async () => {
  const c = await startCounter('throw');
  const h = await freezeInChild([c], { watchdog: false, then: 'throw' });
  await assertStopped(c, 100);
  await h.exited;
  assert.equal(h.child.exitCode, 1, 'the exception still kills the process');
  await assertResumes(c, 1_000);
  const e = await freezeInChild([c], { watchdog: false, then: 'exit' });
  await assertStopped(c, 100);
  await e.exited;
  assert.equal(e.child.exitCode, 7);
  await assertResumes(c, 1_000);
  assert.equal(stateFilesOf(h.child.pid as number).length + stateFilesOf(e.child.pid as number).length, 0);
});

test('SIGKILL: the watchdog thaws within 1 s and cleans up after itself', { skip }, async (t) => {
  const c = await startCounter('sigkill');
  const d = await startCounter('sigkill-b');
  const h = await freezeInChild([c, d], { watchdog: true });
  const [recorded] = stateFilesOf(h.child.pid as number);
  assert.ok(recorded, 'the freeze is recorded');
  const watchdogPid = recorded.state.watchdogPid;
  assert.ok(watchdogPid && alive(watchdogPid), 'the watchdog runs');
  await Promise.all([assertStopped(c), assertStopped(d)]);
  h.child.kill('SIGKILL');
  const t0 = Date.now();
  const [tc, td] = await Promise.all([assertResumes(c, 1_000, 1_000), assertResumes(d, 1_000, 1_000)]);
  t.diagnostic(`after SIGKILL: thawed within ${tc} ms and ${td} ms, both counters moving again after ${Date.now() - t0} ms`);
  await waitFor('the watchdog exits', 2_000, () => !alive(watchdogPid));
  assert.ok(!existsSync(recorded.file), 'the watchdog removed the state file');
});

test('the watchdog thaws at its deadline even while tsbak lives on, frozen in a busy loop', { skip }, async () => {
  const c = await startCounter('deadline');
  // A child that freezes with a short limit, then blocks its event loop so its own timer cannot fire.
  const script = `
    import { freezeContainers } from ${JSON.stringify(path.resolve(SUPPORT, '../../../src/freeze/freezer.js'))};
    await freezeContainers(${JSON.stringify([c])}, { maxFreezeMs: 200, timeoutMs: 200, watchdog: true });
    process.stdout.write('frozen\\n');
    const end = Date.now() + 4000; while (Date.now() < end) {}
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => resolve());
      child.on('exit', (code) => reject(new Error(`exited ${code} before freezing`)));
    });
    const t0 = Date.now();
    await assertStopped(c, 100);
    // deadline = timeout 200 + limit 200 + margin 1000 ms
    const cg = await cgroupsOf(c);
    try {
      await assertResumes(c, 2_500);
    } catch (e) {
      throw new Error(`${(e as Error).message}; at ${new Date().toISOString()} (${Date.now() - t0} ms after frozen) cgroup.freeze=${readFileSync(path.join(cg.v2Dir as string, 'cgroup.freeze'), 'utf8').trim()} events=${readFileSync(path.join(cg.v2Dir as string, 'cgroup.events'), 'utf8').replace(/\n/g, ' ')} v1=${v1State(cg)} counter=${counter(c)}`);
    }
    assert.ok(alive(child.pid as number), 'tsbak is still busy: the watchdog, not tsbak, thawed');
  } finally {
    child.kill('SIGKILL');
  }
});

test('tsbak thaw --all thaws what a SIGKILLed tsbak without a watchdog left frozen', { skip }, async () => {
  const c = await startCounter('recover');
  const h = await freezeInChild([c], { watchdog: false, version: 'v1' });
  const [recorded] = stateFilesOf(h.child.pid as number);
  assert.ok(recorded);
  h.child.kill('SIGKILL');
  await h.exited;
  await assertStopped(c, 300); // nothing thaws it on its own
  const res = await tsbakThaw(['--all', '--json']);
  assert.equal(res.code, 0, res.stderr);
  const report = JSON.parse(res.stdout) as ThawReport;
  const mine = report.entries.filter((e) => e.id === c.id);
  assert.deepEqual(mine.map((e) => [e.source, e.result, e.version]), [['state', 'thawed', 'v1']]);
  assert.ok(report.stateFiles.some((s) => s.path === recorded.file && s.removed && !s.ownerAlive));
  assert.ok(!existsSync(recorded.file));
  await assertResumes(c, 1_000);
});

test('tsbak thaw --all finds a frozen container cgroup that no state file lists; tsbak thaw without --all does not', { skip }, async () => {
  const c = await startCounter('scan');
  const cg = await cgroupsOf(c);
  writeFileSync(path.join(cg.v2Dir as string, 'cgroup.freeze'), '1');
  await assertStopped(c);
  const plain = await tsbakThaw(['--json']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.ok(!(JSON.parse(plain.stdout) as ThawReport).entries.some((e) => e.id === c.id));
  await assertStopped(c, 100);
  const res = await tsbakThaw(['--all', '--json']);
  assert.equal(res.code, 0, res.stderr);
  const mine = (JSON.parse(res.stdout) as ThawReport).entries.filter((e) => e.id === c.id);
  assert.deepEqual(mine.map((e) => [e.source, e.result, e.version, e.name]), [['scan', 'thawed', 'v2', c.name]]);
  await assertResumes(c, 1_000);
});

test('tsbak thaw CONTAINER thaws that container by name; an unknown name is a clear error', { skip }, async () => {
  const c = await startCounter('byname');
  const h = await freezeInChild([c], { watchdog: false });
  h.child.kill('SIGKILL');
  await h.exited;
  await assertStopped(c);
  const res = await tsbakThaw([c.name]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`${c.name}\\s+v2\\s+thawed`));
  await assertResumes(c, 1_000);
  assert.equal(stateFilesOf(h.child.pid as number).length, 0, 'its state file entry is cleared');
  const missing = await tsbakThaw(['no-such-container-' + RUN_ID, '--json']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no container `no-such-container-[^`]+` on the engine at unix:\/\//);
  const both = await tsbakThaw(['--all', c.name]);
  assert.equal(both.code, 2);
});
