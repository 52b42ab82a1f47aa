/**
 * The scheduler daemon (`tsbak schedule run`).
 *
 * node-cron is the alarm clock: one task per schedule calls `trigger` at its times. Which
 * cron slots exist is decided by our calculator (cron.ts), and the daemon remembers the
 * last slot it ran per schedule (state.ts), so:
 * - a slot that passed without a run (daemon down, host asleep, node-cron skipping a DST
 *   gap or the first pass of a repeated hour, a blocked event loop) is run once, late:
 *   at start, after a wall-clock jump (suspend/resume), or by the heartbeat once it is
 *   `graceMs` overdue;
 * - a tick for a slot already run (node-cron at the second pass of a repeated hour) is
 *   ignored;
 * - a slot arriving while the schedule's previous run, or any run on the same
 *   repository, is still going is skipped and reported (log, metrics), not queued.
 * Each run: jitter delay, healthchecks start, before hooks, the injected job runner,
 * after hooks, webhooks, healthchecks success/fail, metrics, state.
 * stop() aborts running jobs' signals and waits for them up to a bound; reload() re-reads
 * the directory, keeping the previous version of schedules whose file is now broken.
 */
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import cron from 'node-cron';
import type { ScheduledTask } from 'node-cron';
import { loadScheduleDir, formatProblem } from './load.js';
import { parseCron, previousFireTime, type CronSpec } from './cron.js';
import type { Schedule } from './schema.js';
import type { JobFigures, JobRunner } from './job.js';
import type { JsonLog } from './log.js';
import { readState, writeState, type DaemonState } from './state.js';
import { runHook } from './hooks.js';
import { notifyWebhooks, pingHealthchecks, type RunOutcome, type RunReport } from './notify.js';
import { MetricsBook } from './metrics.js';
import { errorMessage } from '../errors.js';

export interface Clock {
  /** Wall clock, ms since the epoch. */
  wall(): number;
  /** Monotonic ms (does not advance while the host sleeps). */
  mono(): number;
}

export const systemClock: Clock = { wall: () => Date.now(), mono: () => performance.now() };

export interface DaemonOptions {
  dir: string;
  statePath: string;
  runJob: JobRunner;
  log: JsonLog;
  /** How long stop() waits for running jobs after aborting them. Default 120 s. */
  stopTimeoutMs?: number;
  /** Heartbeat period: wake-up detection and overdue slots. Default 30 s. */
  heartbeatMs?: number;
  /** How overdue a slot must be before the heartbeat runs it (node-cron gets the first chance). Default 60 s. */
  graceMs?: number;
  /** A wall-clock jump beyond elapsed monotonic time by more than this is a wake-up. Default 2 heartbeats. */
  jumpMs?: number;
  clock?: Clock;
  fetch?: typeof fetch;
  random?: () => number;
}

interface Loaded {
  schedule: Schedule;
  spec: CronSpec;
  task: ScheduledTask;
  /** JSON of the schedule, to tell a changed one on reload. */
  fingerprint: string;
}

interface Running {
  controller: AbortController;
  repository: string;
  done: Promise<void>;
}

export type Trigger = 'cron' | 'catch-up' | 'manual';

export function repositoryKey(s: Schedule): string {
  return s.repository.url ?? process.env.TSBAK_REPOSITORY ?? '(default repository)';
}

export class ScheduleDaemon {
  private readonly loaded = new Map<string, Loaded>();
  private readonly running = new Map<string, Running>();
  private state: DaemonState = { version: 1, schedules: {} };
  private readonly metrics = new MetricsBook();
  private heartbeat: NodeJS.Timeout | undefined;
  private last = { wall: 0, mono: 0 };
  private stopping = false;
  private stateWrite: Promise<void> = Promise.resolve();
  private readonly clock: Clock;
  private readonly o: Required<Omit<DaemonOptions, 'fetch' | 'clock'>> & { fetch?: typeof fetch };

  constructor(options: DaemonOptions) {
    this.clock = options.clock ?? systemClock;
    const heartbeatMs = options.heartbeatMs ?? 30_000;
    this.o = {
      stopTimeoutMs: 120_000,
      graceMs: 60_000,
      jumpMs: 2 * heartbeatMs,
      random: Math.random,
      ...options,
      heartbeatMs,
    };
  }

  /** Names of the schedules in force. */
  schedules(): Schedule[] {
    return [...this.loaded.values()].map((l) => l.schedule);
  }

  isRunning(name: string): boolean {
    return this.running.has(name);
  }

  async start(): Promise<void> {
    this.state = await readState(this.o.statePath);
    await this.reload();
    this.last = { wall: this.clock.wall(), mono: this.clock.mono() };
    this.o.log.write('info', 'daemon-started', { dir: this.o.dir, schedules: this.schedules().map((s) => s.name), state: this.o.statePath });
    this.catchUp('start', 0);
    this.heartbeat = setInterval(() => this.beat(), this.o.heartbeatMs);
  }

  /** Re-read the directory: new and changed schedules take effect, removed ones stop, broken files keep their old version. */
  async reload(): Promise<void> {
    let dir;
    try {
      dir = await loadScheduleDir(this.o.dir);
    } catch (err) {
      this.o.log.write('error', 'reload-failed', { dir: this.o.dir, error: errorMessage(err), kept: [...this.loaded.keys()] });
      return;
    }
    for (const b of dir.broken) {
      this.o.log.write('error', 'schedule-file-broken', { file: b.file, problems: b.error.problems.map(formatProblem) });
    }
    const brokenFiles = new Set(dir.broken.map((b) => b.file));
    const wanted = new Map(dir.schedules.map((s) => [s.name, s]));
    // A schedule whose file is now broken keeps running as it was.
    for (const [name, l] of this.loaded) {
      if (!wanted.has(name) && brokenFiles.has(l.schedule.file)) {
        wanted.set(name, l.schedule);
        this.o.log.write('warn', 'schedule-kept', { schedule: name, file: l.schedule.file, reason: 'its file is broken; the previous version stays in force' });
      }
    }
    for (const [name, l] of [...this.loaded]) {
      const next = wanted.get(name);
      if (!next || JSON.stringify(next) !== l.fingerprint) {
        await l.task.destroy();
        this.loaded.delete(name);
        if (!next) this.o.log.write('info', 'schedule-removed', { schedule: name });
      }
    }
    for (const [name, s] of wanted) {
      if (this.loaded.has(name)) continue;
      const spec = parseCron(s.cron);
      const task = cron.createTask(s.cron, (ctx) => void this.trigger(name, 'cron', ctx.date.getTime()), {
        timezone: s.timezone,
        name,
        logger: this.cronLogger(name),
      });
      task.on('execution:missed', (ctx) => this.o.log.write('warn', 'cron-missed', { schedule: name, slot: ctx.date.toISOString(), note: 'node-cron did not fire on time; the catch-up runs it' }));
      this.loaded.set(name, { schedule: s, spec, task, fingerprint: JSON.stringify(s) });
      await task.start();
      const next = task.getNextRun();
      this.o.log.write('info', 'schedule-loaded', { schedule: name, file: s.file, cron: s.cron, timezone: s.timezone, next: next?.toISOString() });
      if (!this.state.schedules[name]) {
        // Never ran here: start counting from now, so a new schedule does not fire at once.
        this.state.schedules[name] = { lastSlot: previousFireTime(spec, s.timezone, this.clock.wall()) ?? this.clock.wall() };
        this.saveState();
      }
    }
  }

  private cronLogger(name: string) {
    const w = (level: 'info' | 'warn' | 'error') => (m: string | Error) => {
      if (level !== 'info') this.o.log.write(level, 'node-cron', { schedule: name, message: errorMessage(m) });
    };
    return { info: w('info'), warn: w('warn'), error: w('error'), debug: () => undefined };
  }

  /** Wake-up detection and overdue slots. */
  private beat(): void {
    const now = { wall: this.clock.wall(), mono: this.clock.mono() };
    const jump = now.wall - this.last.wall - (now.mono - this.last.mono);
    this.last = now;
    if (Math.abs(jump) > this.o.jumpMs) {
      this.o.log.write('info', 'clock-jump', { byMs: Math.round(jump), note: jump > 0 ? 'the host slept or the clock was set forward' : 'the clock was set back' });
      this.catchUp('wake-up', 0);
    } else {
      this.catchUp('heartbeat', this.o.graceMs);
    }
  }

  /** Run once each schedule whose latest slot passed without a run, if at least `graceMs` ago. */
  catchUp(why: string, graceMs: number): void {
    if (this.stopping) return;
    const now = this.clock.wall();
    for (const [name, l] of this.loaded) {
      const slot = previousFireTime(l.spec, l.schedule.timezone, now);
      const st = this.state.schedules[name];
      if (slot === undefined || !st || slot <= st.lastSlot || now - slot < graceMs) continue;
      this.o.log.write('info', 'missed-run', { schedule: name, slot: new Date(slot).toISOString(), lastSlot: new Date(st.lastSlot).toISOString(), why });
      this.trigger(name, 'catch-up', slot);
    }
  }

  /**
   * The slot at or before `at` (default: now) is due: run it, or report why not.
   * node-cron passes the time it fired for; the calculator maps it to our slot.
   */
  trigger(name: string, trigger: Trigger, at?: number): 'started' | 'skipped' | 'ignored' {
    const l = this.loaded.get(name);
    if (!l || this.stopping) return 'ignored';
    const now = this.clock.wall();
    const slot = previousFireTime(l.spec, l.schedule.timezone, at ?? now) ?? now;
    const st = (this.state.schedules[name] ??= { lastSlot: 0 });
    if (trigger !== 'manual' && slot <= st.lastSlot) {
      this.o.log.write('info', 'tick-ignored', { schedule: name, slot: new Date(slot).toISOString(), reason: 'this slot already ran (a repeated hour at a DST change)' });
      return 'ignored';
    }
    st.lastSlot = Math.max(st.lastSlot, slot);
    const repository = repositoryKey(l.schedule);
    const sameRepository = [...this.running.entries()].find(([, r]) => r.repository === repository)?.[0];
    const busy = this.running.has(name)
      ? { reason: 'overlap', detail: 'the previous run of this schedule is still going' }
      : sameRepository !== undefined
        ? { reason: 'repository-busy', detail: `schedule ${sameRepository} is running on ${repository}` }
        : undefined;
    if (busy) {
      this.metrics.recordSkip(name, busy.reason);
      this.o.log.write('warn', 'run-skipped', { schedule: name, slot: new Date(slot).toISOString(), trigger, reason: busy.reason, detail: busy.detail });
      this.saveState();
      void this.writeMetrics(l.schedule);
      return 'skipped';
    }
    const controller = new AbortController();
    const entry: Running = { controller, repository, done: Promise.resolve() };
    this.running.set(name, entry);
    this.saveState();
    entry.done = this.run(l.schedule, slot, trigger, controller.signal).finally(() => {
      this.running.delete(name);
    });
    return 'started';
  }

  private async run(s: Schedule, slot: number, trigger: Trigger, signal: AbortSignal): Promise<void> {
    const log = this.o.log;
    const delay = s.jitterMs > 0 ? Math.floor(this.o.random() * s.jitterMs) : 0;
    if (delay > 0) {
      log.write('info', 'run-delayed', { schedule: s.name, jitterMs: delay });
      await sleep(delay, signal);
    }
    const started = this.clock.wall();
    const startMono = this.clock.mono();
    let outcome: RunOutcome = 'success';
    let figures: JobFigures = {};
    const errors: string[] = [];
    const notify = { log, ...(this.o.fetch ? { fetch: this.o.fetch } : {}) };
    if (signal.aborted) outcome = 'aborted';
    else {
      log.write('info', 'run-started', { schedule: s.name, slot: new Date(slot).toISOString(), trigger });
      const st = this.state.schedules[s.name];
      if (st) st.lastStart = new Date(started).toISOString();
      if (s.notify.healthchecks) await pingHealthchecks(s.notify.healthchecks, 'start', s.name, `tsbak ${s.name} started`, notify);
      const env = { TSBAK_SCHEDULE: s.name, TSBAK_SCHEDULE_FILE: s.file };
      try {
        for (const cmd of s.hooks.before) await runHook(cmd, { env, timeoutMs: s.hooks.timeoutMs, signal });
        const result = await this.o.runJob(s, signal);
        outcome = result.outcome;
        figures = result.figures;
        errors.push(...result.errors);
      } catch (err) {
        outcome = signal.aborted ? 'aborted' : 'failure';
        errors.push(errorMessage(err));
      }
      for (const cmd of s.hooks.after) {
        try {
          await runHook(cmd, { env: { ...env, TSBAK_OUTCOME: outcome }, timeoutMs: s.hooks.timeoutMs });
        } catch (err) {
          errors.push(errorMessage(err));
          if (outcome === 'success') outcome = 'partial';
        }
      }
    }
    const finished = this.clock.wall();
    const report: RunReport = {
      schedule: s.name,
      host: hostname(),
      outcome,
      trigger,
      slot: new Date(slot).toISOString(),
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      durationMs: Math.round(this.clock.mono() - startMono),
      figures,
      errors,
    };
    const st = this.state.schedules[s.name];
    if (st) {
      st.lastFinish = report.finishedAt;
      st.lastOutcome = outcome;
      st.lastDurationMs = report.durationMs;
      if (outcome === 'success') st.lastSuccess = report.finishedAt;
    }
    this.saveState();
    log.write(outcome === 'success' ? 'info' : 'error', 'run-finished', { ...report });
    this.metrics.recordRun(report);
    await Promise.all([
      notifyWebhooks(s.notify.webhooks, report, notify),
      s.notify.healthchecks
        ? pingHealthchecks(s.notify.healthchecks, outcome === 'success' ? 'success' : 'fail', s.name, `${outcome}\n${errors.join('\n')}`, notify)
        : undefined,
      this.writeMetrics(s),
    ]);
  }

  private async writeMetrics(s: Schedule): Promise<void> {
    if (!s.metrics) return;
    const sameFile = this.schedules().filter((x) => x.metrics === s.metrics).map((x) => x.name);
    try {
      await this.metrics.write(s.metrics, sameFile.includes(s.name) ? sameFile : [...sameFile, s.name]);
    } catch (err) {
      this.o.log.write('warn', 'metrics-failed', { schedule: s.name, file: s.metrics, error: errorMessage(err) });
    }
  }

  private saveState(): void {
    const snapshot = JSON.parse(JSON.stringify(this.state)) as DaemonState;
    this.stateWrite = this.stateWrite
      .then(() => writeState(this.o.statePath, snapshot))
      .catch((err: unknown) => this.o.log.write('error', 'state-write-failed', { file: this.o.statePath, error: errorMessage(err) }));
  }

  /** Stop: no new runs, abort the running ones, wait up to the bound. Resolves true when every job stopped in time. */
  async stop(reason = 'stopping'): Promise<boolean> {
    this.stopping = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const l of this.loaded.values()) await l.task.destroy();
    const names = [...this.running.keys()];
    this.o.log.write('info', 'daemon-stopping', { reason, running: names, waitMs: this.o.stopTimeoutMs });
    for (const r of this.running.values()) r.controller.abort(new Error(`the daemon is stopping (${reason})`));
    let timer: NodeJS.Timeout | undefined;
    const clean = await Promise.race([
      Promise.all([...this.running.values()].map((r) => r.done)).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.o.stopTimeoutMs))),
    ]);
    clearTimeout(timer);
    await this.stateWrite;
    if (!clean) this.o.log.write('error', 'stop-timeout', { running: [...this.running.keys()], note: `jobs did not reach a safe point within ${this.o.stopTimeoutMs / 1000} s` });
    this.o.log.write('info', 'daemon-stopped', { clean });
    return clean;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Run the daemon until SIGTERM or SIGINT (SIGHUP reloads). Resolves with the exit code:
 * 0 when every running job stopped in time, 1 otherwise. The handlers are installed
 * before the daemon starts, so a signal during start-up is acted on once it has started
 * instead of killing the process (SIGHUP's default action).
 */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  const daemon = new ScheduleDaemon(options);
  let started = false;
  let stopRequested: NodeJS.Signals | undefined;
  let reloadRequested = false;
  let finish: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (finish = resolve));
  const stop = (sig: NodeJS.Signals) => {
    process.off('SIGHUP', onHup);
    void daemon.stop(sig).then((clean) => {
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      finish(clean ? 0 : 1);
    });
  };
  function onStop(sig: NodeJS.Signals): void {
    if (stopRequested) {
      options.log.write('warn', 'signal-ignored', { signal: sig, note: 'already stopping; waiting for running jobs' });
      return;
    }
    stopRequested = sig;
    if (started) stop(sig);
  }
  function onHup(): void {
    if (!started) {
      reloadRequested = true;
      return;
    }
    options.log.write('info', 'reload', { signal: 'SIGHUP' });
    void daemon.reload();
  }
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  try {
    await daemon.start();
  } catch (err) {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
    throw err;
  }
  started = true;
  if (stopRequested) stop(stopRequested);
  else if (reloadRequested) onHup();
  return exited;
}
