/**
 * Freezing a set of containers together through the cgroup freezer, and
 * thawing them on every path out: an explicit thaw(), the maxFreezeMs timer,
 * process exit, SIGINT/SIGTERM/SIGHUP, an uncaught exception, and (through the
 * watchdog process) SIGKILL or a crash.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import { findCgroups, isWithin, ownCgroupPaths, type FreezerVersion, type ProcessCgroups } from './cgroup.js';
import { controlFile, freezerState, requestFreeze, requestThaw, selfFrozen } from './control.js';
import { CgroupError, FreezeError } from './errors.js';
import { newStatePath, removeStateSync, writeStateSync, type FreezeState } from './state.js';
import { startWatchdog, type Watchdog } from './watchdog.js';

export type CgroupVersion = FreezerVersion | 'auto';

export interface FreezeTarget {
  id: string;
  name: string;
  pid: number;
}

export interface FreezeReport {
  id: string;
  name: string;
  version: FreezerVersion;
  /** From the freeze request to the thaw request: how long the container stood still. */
  windowMs: number;
  /** The freeze outlasted maxFreezeMs and was thawed by the timer: fail the item (FreezeExceededError). */
  exceeded: boolean;
  /** It was already frozen by someone else (docker pause): tsbak left it as it was. */
  alreadyFrozen: boolean;
  /** Its cgroup disappeared while frozen (the container was killed). */
  gone: boolean;
}

export interface FrozenGroup {
  /** process.hrtime.bigint() when every container was confirmed frozen. */
  readonly frozenAt: bigint;
  readonly members: readonly { id: string; name: string; version: FreezerVersion; dir: string }[];
  /** True once the maxFreezeMs timer has thawed the group. */
  readonly exceeded: boolean;
  /** Thaws every container (idempotent: later calls return the same reports). */
  thaw(): Promise<FreezeReport[]>;
}

export interface FreezeOptions {
  /** v2 (cgroup.freeze), v1 (freezer.state), or auto: v2 when cgroup.freeze exists, else v1. Default auto. */
  version?: CgroupVersion;
  /** Thaw automatically after this long; the group then reports exceeded. */
  maxFreezeMs: number;
  /** How long to wait for the kernel to confirm a freeze (default 5000 ms). */
  timeoutMs?: number;
  /** Spawn a watchdog process that thaws if tsbak dies (default true). */
  watchdog?: boolean;
}

const DEFAULT_TIMEOUT_MS = 5_000;
/** The watchdog waits this much longer than the freeze may last, so the in-process timer normally wins. */
const WATCHDOG_MARGIN_MS = 1_000;
const THAW_CONFIRM_MS = 2_000;

interface Member {
  target: FreezeTarget;
  version: FreezerVersion;
  dir: string;
  alreadyFrozen: boolean;
  requested: boolean;
  freezeAt: bigint;
  thawAt: bigint;
  gone: boolean;
}

function ms(from: bigint, to: bigint): number {
  return Number(to - from) / 1e6;
}

function chooseDir(cg: ProcessCgroups, target: FreezeTarget, version: CgroupVersion): { version: FreezerVersion; dir: string } {
  const v2 = cg.v2Dir;
  const v1 = cg.v1Dir;
  if (version === 'v2' || (version === 'auto' && v2)) {
    if (v2) return { version: 'v2', dir: v2 };
    throw new CgroupError(
      cg.v2Path === undefined
        ? 'cgroup v2 is not available for it (no `0::` line in /proc/' + target.pid + '/cgroup); use the v1 freezer'
        : `its cgroup v2 \`${cg.v2Path}\` has no cgroup.freeze (kernel older than 5.2, cgroup2 not mounted, or the engine is rootless)`,
    );
  }
  if (v1) return { version: 'v1', dir: v1 };
  if (version === 'v1') {
    throw new CgroupError(
      cg.v1Path === undefined
        ? 'no v1 freezer hierarchy is mounted (no freezer line in /proc/' + target.pid + '/cgroup); use cgroup v2'
        : `its v1 freezer cgroup \`${cg.v1Path}\` was not found under the mounted freezer hierarchy (is the engine rootless?)`,
    );
  }
  throw new CgroupError('cgroup not found: neither cgroup.freeze (v2) nor freezer.state (v1) exists for it (is the engine rootless?)');
}

async function resolveMember(target: FreezeTarget, version: CgroupVersion, own: { v2: string | undefined; v1: string | undefined }): Promise<Member> {
  try {
    const cg = await findCgroups(target.pid);
    const chosen = chooseDir(cg, target, version);
    const cgPath = chosen.version === 'v2' ? cg.v2Path : cg.v1Path;
    const ownPath = chosen.version === 'v2' ? own.v2 : own.v1;
    if (cgPath === '/') throw new CgroupError('it runs in the root cgroup, which cannot be frozen (is the engine rootless?)');
    if (cgPath !== undefined && ownPath !== undefined && isWithin(ownPath, cgPath)) {
      throw new CgroupError(`its cgroup \`${cgPath}\` also holds tsbak itself, so freezing it would freeze tsbak (is the engine rootless, or tsbak running inside the container?)`);
    }
    return { target, ...chosen, alreadyFrozen: false, requested: false, freezeAt: 0n, thawAt: 0n, gone: false };
  } catch (err) {
    const reason = err instanceof CgroupError ? err.message : errorMessage(err);
    throw new FreezeError(target.name, reason, undefined, { cause: err });
  }
}

// --- exit paths ----------------------------------------------------------------

/** Groups currently frozen in this process; the handlers are installed while it is non-empty. */
const active = new Set<Group>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function thawAllSync(why: string): void {
  for (const g of [...active]) g.thawSync(why);
}

const onExit = (): void => thawAllSync('exit');
const onException = (): void => thawAllSync('uncaught exception');
const onSignal = (sig: NodeJS.Signals): void => {
  thawAllSync(sig);
  // If nobody else handles the signal, die of it as the default action would.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
};

function installHandlers(): void {
  process.on('exit', onExit);
  process.on('uncaughtExceptionMonitor', onException);
  for (const sig of SIGNALS) process.on(sig, onSignal);
}

function removeHandlers(): void {
  process.off('exit', onExit);
  process.off('uncaughtExceptionMonitor', onException);
  for (const sig of SIGNALS) process.off(sig, onSignal);
}

function activate(g: Group): void {
  if (active.size === 0) installHandlers();
  active.add(g);
}

function deactivate(g: Group): void {
  if (!active.delete(g)) return;
  if (active.size === 0) removeHandlers();
}

// --- the group ---------------------------------------------------------------

class Group implements FrozenGroup {
  frozenAt = 0n;
  exceeded = false;
  private timer: NodeJS.Timeout | undefined;
  private thawed = false;
  private thawPromise: Promise<FreezeReport[]> | undefined;
  private thawErrors: string[] = [];
  watchdog: Watchdog | undefined;

  constructor(
    readonly all: Member[],
    readonly stateFile: string,
    readonly maxFreezeMs: number,
  ) {}

  get members(): { id: string; name: string; version: FreezerVersion; dir: string }[] {
    return this.all.map((m) => ({ id: m.target.id, name: m.target.name, version: m.version, dir: m.dir }));
  }

  armTimer(): void {
    this.timer = setTimeout(() => {
      this.exceeded = true;
      this.thawSync(`the freeze exceeded its limit of ${this.maxFreezeMs} ms`);
    }, this.maxFreezeMs);
    this.timer.unref();
  }

  /** Writes every thaw request now; safe from exit and signal handlers. */
  thawSync(_why: string): void {
    if (this.thawed) return;
    this.thawed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const m of this.all) {
      if (!m.requested || m.alreadyFrozen) continue;
      try {
        if (!requestThaw(m.version, m.dir)) m.gone = true;
      } catch (err) {
        this.thawErrors.push(`container \`${m.target.name}\` could not be thawed through ${controlFile(m.version, m.dir)}: ${errorMessage(err)}`);
      }
      m.thawAt = process.hrtime.bigint();
    }
    if (this.thawErrors.length === 0) {
      // Order matters: the state file goes first, so a watchdog that sees us die afterwards knows we thawed.
      try {
        removeStateSync(this.stateFile);
      } catch {
        // a leftover state file only makes `tsbak thaw` re-thaw a thawed cgroup
      }
      this.watchdog?.dismiss();
    }
    deactivate(this);
  }

  thaw(): Promise<FreezeReport[]> {
    this.thawPromise ??= this.thawAndConfirm();
    return this.thawPromise;
  }

  private async thawAndConfirm(): Promise<FreezeReport[]> {
    this.thawSync('thaw');
    if (this.thawErrors.length === 0) await this.confirmThawed();
    if (this.thawErrors.length > 0) {
      throw new FreezeError(
        undefined,
        this.thawErrors.join('; '),
        `${this.thawErrors.join('; ')}; run \`tsbak thaw --all\` (or \`tsbak thaw CONTAINER\`) once the cause is fixed`,
      );
    }
    return this.all.map((m) => ({
      id: m.target.id,
      name: m.target.name,
      version: m.version,
      windowMs: m.alreadyFrozen || !m.requested ? 0 : ms(m.freezeAt, m.thawAt),
      exceeded: this.exceeded,
      alreadyFrozen: m.alreadyFrozen,
      gone: m.gone,
    }));
  }

  private async confirmThawed(): Promise<void> {
    const deadline = Date.now() + THAW_CONFIRM_MS;
    for (const m of this.all) {
      if (!m.requested || m.alreadyFrozen || m.gone) continue;
      for (;;) {
        const state = freezerState(m.version, m.dir);
        if (state === undefined) {
          m.gone = true;
          break;
        }
        // A frozen parent keeps it frozen whatever we do: done once our own request is withdrawn.
        if (state === 'thawed' || !selfFrozen(m.version, m.dir)) break;
        if (Date.now() > deadline) {
          this.thawErrors.push(`container \`${m.target.name}\` still reads ${state} ${THAW_CONFIRM_MS} ms after it was thawed`);
          break;
        }
        if (m.version === 'v1') requestThaw(m.version, m.dir);
        await sleep(1);
      }
    }
  }
}

/** Waits until the kernel reports the member frozen; v1 re-requests while FREEZING. */
async function waitFrozen(m: Member, group: Group, timeoutMs: number, deadline: number): Promise<void> {
  let delay = 0;
  for (;;) {
    if (group.exceeded) throw new FreezeError(m.target.name, `it was not frozen within the freeze limit of ${group.maxFreezeMs} ms`);
    const state = freezerState(m.version, m.dir);
    if (state === undefined) throw new FreezeError(m.target.name, 'its cgroup disappeared while it was being frozen (did it exit?)');
    if (state === 'frozen') return;
    if (Date.now() > deadline) {
      throw new FreezeError(
        m.target.name,
        `it still reads ${m.version === 'v1' ? 'FREEZING' : 'frozen 0'} after ${timeoutMs} ms (a process in uninterruptible sleep, e.g. on NFS or a hung disk, cannot be frozen)`,
      );
    }
    if (m.version === 'v1') requestFreeze('v1', m.dir);
    if (delay === 0) await new Promise<void>((r) => setImmediate(r));
    else await sleep(delay);
    delay = Math.min(delay + 1, 10);
  }
}

/**
 * Freezes every target's cgroup, together, and resolves once the kernel reports
 * all of them frozen. If any fails, those already frozen are thawed and a
 * FreezeError names the container and the reason.
 */
export async function freezeContainers(targets: FreezeTarget[], opts: FreezeOptions): Promise<FrozenGroup> {
  const version = opts.version ?? 'auto';
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(opts.maxFreezeMs > 0)) throw new FreezeError(undefined, `the freeze limit must be a positive number of milliseconds, not ${opts.maxFreezeMs}`);
  const own = await ownCgroupPaths();
  const members: Member[] = [];
  for (const t of targets) members.push(await resolveMember(t, version, own));
  const seen = new Map<string, string>();
  for (const m of members) {
    const other = seen.get(m.dir);
    if (other !== undefined) throw new FreezeError(m.target.name, `it shares its cgroup with container \`${other}\``);
    seen.set(m.dir, m.target.name);
  }
  // Someone else's freeze (docker pause) is left alone: we neither freeze nor thaw it.
  for (const m of members) m.alreadyFrozen = selfFrozen(m.version, m.dir);
  const ours = members.filter((m) => !m.alreadyFrozen);

  const group = new Group(members, newStatePath(), opts.maxFreezeMs);
  const state: FreezeState = {
    version: 1,
    pid: process.pid,
    hostname: os.hostname(),
    startedAt: new Date().toISOString(),
    deadline: new Date(Date.now() + timeoutMs + opts.maxFreezeMs + WATCHDOG_MARGIN_MS).toISOString(),
    watchdogPid: null,
    cgroups: ours.map((m) => ({ id: m.target.id, name: m.target.name, version: m.version, dir: m.dir, file: controlFile(m.version, m.dir) })),
  };
  if (ours.length > 0) {
    if (opts.watchdog !== false) {
      group.watchdog = await startWatchdog({
        files: state.cgroups.map((c) => c.file),
        stateFile: group.stateFile,
        deadlineMs: timeoutMs + opts.maxFreezeMs + WATCHDOG_MARGIN_MS,
      });
      state.watchdogPid = group.watchdog.pid;
    }
    try {
      state.deadline = new Date(Date.now() + timeoutMs + opts.maxFreezeMs + WATCHDOG_MARGIN_MS).toISOString();
      writeStateSync(group.stateFile, state);
    } catch (err) {
      group.watchdog?.dismiss();
      throw new FreezeError(undefined, `cannot record the freeze in ${group.stateFile}: ${errorMessage(err)} (tsbak thaw needs it to recover)`, undefined, { cause: err });
    }
  }

  activate(group);
  group.watchdog?.start();
  try {
    // Request every freeze first, then wait: the containers stop within microseconds of each other.
    for (const m of ours) {
      m.freezeAt = process.hrtime.bigint();
      m.requested = true;
      let ok: boolean;
      try {
        ok = requestFreeze(m.version, m.dir);
      } catch (err) {
        throw new FreezeError(m.target.name, `writing ${controlFile(m.version, m.dir)} failed: ${errorMessage(err)}`, undefined, { cause: err });
      }
      if (!ok) throw new FreezeError(m.target.name, `cgroup not found: ${m.dir} is gone (was it stopped?)`);
    }
    if (ours.length > 0) group.armTimer();
    const deadline = Date.now() + timeoutMs;
    for (const m of ours) await waitFrozen(m, group, timeoutMs, deadline);
    group.frozenAt = process.hrtime.bigint();
  } catch (err) {
    group.thawSync('freeze failed');
    await group.thaw().catch(() => {});
    throw err;
  }
  if (ours.length === 0) deactivate(group);
  return group;
}
