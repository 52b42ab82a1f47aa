import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScheduleDaemon, type Clock } from '../../src/schedule/daemon.js';
import { memoryLog } from '../../src/schedule/log.js';
import type { JobRunner } from '../../src/schedule/job.js';
import { readState, writeState } from '../../src/schedule/state.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsbak-daemon-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function scheduleFile(dir: string, name: string, body: string): void {
  writeFileSync(path.join(dir, `${name}.yaml`), `name: ${name}\n${body}`);
}

function sleepingJob(ms: number, calls: string[] = []): JobRunner {
  return (s, signal) =>
    new Promise((resolve, reject) => {
      calls.push(s.name);
      const t = setTimeout(() => resolve({ outcome: 'success', figures: { bytesAdded: 42, snapshots: 3, freezeWindowMaxMs: 7 }, errors: [] }), ms);
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(signal.reason);
      });
    });
}

async function daemonWith(dir: string, runJob: JobRunner, extra: Partial<ConstructorParameters<typeof ScheduleDaemon>[0]> = {}) {
  const log = memoryLog();
  const d = new ScheduleDaemon({ dir, statePath: path.join(dir, 'state', 'state.json'), runJob, log, heartbeatMs: 200, graceMs: 1500, stopTimeoutMs: 3000, ...extra });
  cleanups.push(async () => void (await d.stop('test over')));
  await d.start();
  return { d, log };
}

describe('schedule daemon', () => {
  test('runs at cron times and skips a run that would overlap the previous one, in the log and the metrics', async () => {
    const dir = tempDir();
    const prom = path.join(dir, 'm.prom');
    scheduleFile(dir, 'fast', `cron: "* * * * * *"\nselect: all\nmetrics: ${prom}\n`);
    const calls: string[] = [];
    const { d, log } = await daemonWith(dir, sleepingJob(2200, calls));
    await sleep(4600);
    await d.stop();
    const started = log.entries.filter((e) => e.event === 'run-started');
    const skipped = log.entries.filter((e) => e.event === 'run-skipped');
    assert.ok(started.length >= 1 && started.length <= 2, `started ${started.length}`);
    assert.ok(skipped.length >= 2, `skipped ${skipped.length}`);
    assert.ok(skipped.every((s) => s.reason === 'overlap' && s.schedule === 'fast'));
    const finished = log.entries.find((e) => e.event === 'run-finished');
    assert.equal(finished?.outcome, 'success');
    const text = readFileSync(prom, 'utf8');
    assert.match(text, /^tsbak_schedule_skipped_total\{schedule="fast",reason="overlap"\} \d+$/m);
    assert.match(text, /^tsbak_schedule_last_bytes_added\{schedule="fast"\} 42$/m);
    assert.match(text, /^tsbak_schedule_last_freeze_window_max_seconds\{schedule="fast"\} 0.007$/m);
    assert.match(text, /^tsbak_schedule_last_success_timestamp_seconds\{schedule="fast"\} \d+/m);
  });

  test('two schedules on one repository never run at once', async () => {
    const dir = tempDir();
    scheduleFile(dir, 'a', 'cron: "*/2 * * * * *"\nselect: all\nrepository: /srv/repo\n');
    scheduleFile(dir, 'b', 'cron: "*/2 * * * * *"\nselect: all\nrepository: /srv/repo\n');
    const { d, log } = await daemonWith(dir, sleepingJob(1500));
    await sleep(3000);
    await d.stop();
    const busy = log.entries.filter((e) => e.event === 'run-skipped' && e.reason === 'repository-busy');
    assert.ok(busy.length >= 1, JSON.stringify(log.entries.map((e) => e.event)));
    assert.match(String(busy[0]?.detail), /is running on \/srv\/repo/);
  });

  test('catch-up: a run missed while the daemon was down runs once at start; a new schedule does not fire at once', async () => {
    const dir = tempDir();
    scheduleFile(dir, 'nightly', 'cron: "0 3 * * *"\nselect: all\ntimezone: UTC\n');
    scheduleFile(dir, 'fresh', 'cron: "0 3 * * *"\nselect: all\ntimezone: UTC\n');
    const statePath = path.join(dir, 'state', 'state.json');
    await writeState(statePath, { version: 1, schedules: { nightly: { lastSlot: Date.now() - 4 * 86_400_000 } } });
    const calls: string[] = [];
    const { d, log } = await daemonWith(dir, sleepingJob(50, calls));
    await sleep(400);
    assert.deepEqual(calls, ['nightly']);
    assert.equal(log.entries.filter((e) => e.event === 'missed-run').length, 1);
    assert.equal(log.entries.find((e) => e.event === 'run-started')?.trigger, 'catch-up');
    await d.stop();
    const state = await readState(statePath);
    assert.ok((state.schedules.nightly?.lastSlot ?? 0) > Date.now() - 86_400_000);
    assert.equal(state.schedules.nightly?.lastOutcome, 'success');
    assert.ok(state.schedules.fresh, 'the new schedule has a baseline');
  });

  test('wake-up: a wall-clock jump past a slot runs it once at the next heartbeat', async () => {
    const dir = tempDir();
    scheduleFile(dir, 'hourly', 'cron: "0 * * * *"\nselect: all\n');
    let offset = 0;
    const clock: Clock = { wall: () => Date.now() + offset, mono: () => performance.now() };
    const calls: string[] = [];
    const { log } = await daemonWith(dir, sleepingJob(10, calls), { clock, graceMs: 3_600_000 });
    await sleep(300);
    assert.deepEqual(calls, []);
    offset = 3 * 3_600_000; // the host "slept" three hours
    await sleep(500);
    assert.deepEqual(calls, ['hourly']);
    const jump = log.entries.find((e) => e.event === 'clock-jump');
    assert.ok(jump && Number(jump.byMs) > 3_500_000);
  });

  test('a tick for a slot already run is ignored (the second 02:30 of a fall-back night)', async () => {
    const dir = tempDir();
    scheduleFile(dir, 'night', 'cron: "30 2 * * *"\nselect: all\ntimezone: Europe/Berlin\n');
    const calls: string[] = [];
    const { d, log } = await daemonWith(dir, sleepingJob(10, calls), { clock: { wall: () => Date.parse('2020-10-25T03:00:00Z'), mono: () => performance.now() } });
    // The first pass (00:30Z, 02:30 CEST) ran; node-cron fires again at 01:30Z (02:30 CET).
    assert.equal(d.trigger('night', 'cron', Date.parse('2020-10-25T00:30:00Z')), 'ignored'); // the baseline made at start covers it
    assert.equal(log.entries.at(-1)?.event, 'tick-ignored');
    assert.equal(d.trigger('night', 'cron', Date.parse('2020-10-25T01:30:00Z')), 'ignored');
    assert.deepEqual(calls, []);
  });

  test('failure: webhooks get the report, a dead webhook is logged and not fatal, hooks run around the job', async () => {
    const dir = tempDir();
    const bodies: unknown[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        bodies.push({ url: req.url, body: req.headers['content-type'] === 'application/json' ? JSON.parse(body) : body });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;
    const marker = path.join(dir, 'after.txt');
    scheduleFile(
      dir,
      'db',
      [
        'cron: "0 0 1 1 *"',
        'select: { containers: [pg] }',
        `hooks: { before: ["echo before >&2"], after: ["echo \\"$TSBAK_SCHEDULE $TSBAK_OUTCOME\\" > ${marker}"] }`,
        'notify:',
        '  webhooks:',
        `    - { url: "http://127.0.0.1:${port}/hook", on: failure }`,
        '    - { url: "http://127.0.0.1:1/dead", on: always }',
        `  healthchecks: http://127.0.0.1:${port}/hc/abc`,
        '',
      ].join('\n'),
    );
    const failing: JobRunner = async () => {
      throw new Error('volume `db` is in use by container `pg`, which could not be frozen');
    };
    const { d, log } = await daemonWith(dir, failing);
    assert.equal(d.trigger('db', 'manual'), 'started');
    for (let i = 0; i < 50 && !log.entries.some((e) => e.event === 'notify-failed'); i++) await sleep(100);
    await sleep(200);
    const hook = bodies.find((b) => (b as { url: string }).url === '/hook') as { body: Record<string, unknown> };
    assert.equal(hook.body.schedule, 'db');
    assert.equal(hook.body.outcome, 'failure');
    assert.deepEqual(hook.body.errors, ['volume `db` is in use by container `pg`, which could not be frozen']);
    assert.ok(typeof hook.body.durationMs === 'number' && hook.body.figures);
    assert.deepEqual(bodies.map((b) => (b as { url: string }).url).sort(), ['/hc/abc/fail', '/hc/abc/start', '/hook']);
    const dead = log.entries.find((e) => e.event === 'notify-failed');
    assert.equal(dead?.url, 'http://127.0.0.1:1/dead');
    assert.equal(readFileSync(marker, 'utf8').trim(), 'db failure');
    // The daemon is still fine.
    assert.equal(d.trigger('db', 'manual'), 'started');
  });

  test('jitter delays the start by a random share of it, and stop cuts the wait short', async () => {
    const dir = tempDir();
    scheduleFile(dir, 'j', 'cron: "0 0 1 1 *"\nselect: all\njitter: 1s\n');
    const calls: string[] = [];
    const { d, log } = await daemonWith(dir, sleepingJob(10, calls), { random: () => 0.6 });
    const t0 = Date.now();
    d.trigger('j', 'manual');
    assert.equal(log.entries.find((e) => e.event === 'run-delayed')?.jitterMs, 600);
    while (calls.length === 0 && Date.now() - t0 < 3000) await sleep(20);
    assert.ok(Date.now() - t0 >= 590, `started after ${Date.now() - t0} ms`);
    while (d.isRunning('j')) await sleep(20);
    assert.equal(d.trigger('j', 'manual'), 'started');
    await sleep(50);
    assert.equal(await d.stop(), true);
    assert.equal(calls.length, 1, 'the second run was stopped during its jitter wait');
    assert.equal(log.entries.filter((e) => e.event === 'run-finished').at(-1)?.outcome, 'aborted');
  });

  test('a failing before hook fails the run without calling the job', async () => {
    const dir = tempDir();
    scheduleFile(dir, 'h', 'cron: "0 0 1 1 *"\nselect: all\nhooks: { before: ["echo not mounted; exit 3"] }\n');
    const calls: string[] = [];
    const { d, log } = await daemonWith(dir, sleepingJob(10, calls));
    d.trigger('h', 'manual');
    for (let i = 0; i < 30 && !log.entries.some((e) => e.event === 'run-finished'); i++) await sleep(50);
    const f = log.entries.find((e) => e.event === 'run-finished');
    assert.equal(f?.outcome, 'failure');
    assert.deepEqual(f?.errors, ['hook `echo not mounted; exit 3` exited 3: not mounted']);
    assert.deepEqual(calls, []);
  });

  test('stop aborts running jobs and waits for them; a job that ignores its signal is given up after the bound', async () => {
    const dir = tempDir();
    scheduleFile(dir, 's', 'cron: "0 0 1 1 *"\nselect: all\n');
    const { d, log } = await daemonWith(dir, sleepingJob(60_000));
    d.trigger('s', 'manual');
    await sleep(50);
    assert.equal(await d.stop('SIGTERM'), true);
    assert.equal(log.entries.find((e) => e.event === 'run-finished')?.outcome, 'aborted');

    const dir2 = tempDir();
    scheduleFile(dir2, 's', 'cron: "0 0 1 1 *"\nselect: all\n');
    const stubborn: JobRunner = () => new Promise(() => undefined);
    const second = await daemonWith(dir2, stubborn, { stopTimeoutMs: 300 });
    second.d.trigger('s', 'manual');
    const t0 = Date.now();
    assert.equal(await second.d.stop('SIGTERM'), false);
    assert.ok(Date.now() - t0 < 1500);
    assert.ok(second.log.entries.some((e) => e.event === 'stop-timeout'));
  });

  test('reload: new schedules start, a broken file is reported and its old version keeps running', async () => {
    const dir = tempDir();
    scheduleFile(dir, 'one', 'cron: "0 0 1 1 *"\nselect: all\n');
    const { d, log } = await daemonWith(dir, sleepingJob(10));
    scheduleFile(dir, 'two', 'cron: "0 0 1 1 *"\nselect: all\n');
    scheduleFile(dir, 'one', 'cron: "61 25 * * *"\nselect: all\n');
    await d.reload();
    assert.deepEqual(d.schedules().map((s) => s.name).sort(), ['one', 'two']);
    assert.equal(d.schedules().find((s) => s.name === 'one')?.cron, '0 0 1 1 *');
    const broken = log.entries.find((e) => e.event === 'schedule-file-broken');
    assert.match(String((broken?.problems as string[])[0]), /one\.yaml:2:7: cron: minute "61"/);
    rmSync(path.join(dir, 'two.yaml'));
    await d.reload();
    assert.deepEqual(d.schedules().map((s) => s.name), ['one']);
  });
});

describe('schedule daemon process', () => {
  function start(dir: string, env: Record<string, string> = {}) {
    const child = spawn(process.execPath, [path.join(here, 'support/daemon-main.js'), dir, path.join(dir, 'state.json')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    cleanups.push(() => void child.kill('SIGKILL'));
    const events = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const waitFor = async (pred: () => boolean, what: string, ms = 8000) => {
      for (let t = 0; t < ms && !pred(); t += 50) await sleep(50);
      assert.ok(pred(), `${what}; stdout:\n${out}\nstderr:\n${err}`);
    };
    return { child, exited, events, waitFor, stderr: () => err };
  }

  test('SIGTERM mid-run: the job is aborted, reaches its safe point, the daemon exits 0', async () => {
    const dir = tempDir();
    scheduleFile(dir, 'every', 'cron: "* * * * * *"\nselect: all\n');
    const p = start(dir);
    await p.waitFor(() => p.stderr().includes('job every started'), 'the job starts');
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0);
    assert.match(p.stderr(), /job every reached a safe point/);
    const ev = p.events();
    assert.equal(ev.find((e) => e.event === 'run-finished')?.outcome, 'aborted');
    assert.deepEqual(ev.at(-1), { ...ev.at(-1), event: 'daemon-stopped', clean: true });
    assert.ok(existsSync(path.join(dir, 'state.json')));
  });

  test('SIGTERM with a job that never reaches a safe point: exit 1 after the bound', async () => {
    const dir = tempDir();
    scheduleFile(dir, 'every', 'cron: "* * * * * *"\nselect: all\n');
    const p = start(dir, { TSBAK_TEST_IGNORE_ABORT: '1', TSBAK_TEST_STOP_MS: '500' });
    await p.waitFor(() => p.stderr().includes('job every started'), 'the job starts');
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 1);
    assert.ok(p.events().some((e) => e.event === 'stop-timeout'));
  });

  test('SIGHUP reloads the directory; a broken file is reported and the others keep running', async () => {
    const dir = tempDir();
    scheduleFile(dir, 'a', 'cron: "0 0 1 1 *"\nselect: all\n');
    const p = start(dir, { TSBAK_TEST_JOB_MS: '10' });
    await p.waitFor(() => p.events().some((e) => e.event === 'daemon-started'), 'the daemon starts');
    scheduleFile(dir, 'b', 'cron: "* * * * * *"\nselect: all\n');
    scheduleFile(dir, 'c', 'cron: "* * * *"\nselect: all\n');
    p.child.kill('SIGHUP');
    await p.waitFor(() => p.events().some((e) => e.event === 'run-finished' && e.schedule === 'b'), 'b runs after the reload');
    const broken = p.events().find((e) => e.event === 'schedule-file-broken');
    assert.match(String(broken?.file), /c\.yaml$/);
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0);
  });
});
