/**
 * Recovery: thawing what a dead tsbak left frozen. The state files say what
 * each tsbak process froze; with `all`, the cgroup trees are scanned too for
 * frozen container cgroups (a 64-hex id as the leaf: `/docker/<id>`,
 * `docker-<id>.scope`, or below a custom --cgroup-parent).
 *
 * What is never thawed: a freeze whose owner is still running and inside its
 * deadline (it will thaw itself), and a container the engine reports as paused
 * (`docker pause` uses the same freezer; `docker unpause` undoes it).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import type { EngineClient } from '../runtime/docker/client.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import { containerIdOfCgroup, findCgroups, freezerMounts, type FreezerVersion } from './cgroup.js';
import { controlFile, freezerState, requestThaw, selfFrozen } from './control.js';
import { FreezeError } from './errors.js';
import { listStates, removeStateSync, writeStateSync, type StateFile } from './state.js';
import { pidAlive } from '../util/process.js';

export type ThawSource = 'state' | 'scan' | 'container';

export interface ThawEntry {
  id: string | undefined;
  name: string | undefined;
  version: FreezerVersion;
  /** The cgroup directory. */
  dir: string;
  source: ThawSource;
  /** thawed: it was frozen and is thawed now; not-frozen: nothing to do; gone: the cgroup no longer exists; skipped: left frozen (see note). */
  result: 'thawed' | 'not-frozen' | 'gone' | 'skipped';
  note?: string;
}

export interface StateFileEntry {
  path: string;
  pid: number;
  ownerAlive: boolean;
  /** Removed because everything it lists is thawed; false when it was left for a running owner. */
  removed: boolean;
}

export interface ThawReport {
  entries: ThawEntry[];
  stateFiles: StateFileEntry[];
  /** Problems that left something possibly frozen. */
  errors: string[];
  /** Notes for the operator (engine unreachable, ...). */
  notes: string[];
}

/** The built-in runtime puts each container in `/tsbak/<id>` (native/cgroup.c). */
function isBuiltinRuntimeCgroup(dir: string): boolean {
  return /\/tsbak\/[0-9a-f]{64}$/.test(dir);
}


function versionOfFile(file: string): FreezerVersion {
  return path.basename(file) === 'cgroup.freeze' ? 'v2' : 'v1';
}

/** Thaws one cgroup if it is frozen by its own request (a frozen parent is not ours to change). */
function thawDir(version: FreezerVersion, dir: string, base: Omit<ThawEntry, 'result' | 'version' | 'dir'>, errors: string[]): ThawEntry {
  const entry = (result: ThawEntry['result'], note?: string): ThawEntry => ({ ...base, version, dir, result, ...(note ? { note } : {}) });
  try {
    const state = freezerState(version, dir);
    if (state === undefined) return entry('gone');
    if (!selfFrozen(version, dir)) {
      return state === 'thawed' ? entry('not-frozen') : entry('not-frozen', 'a parent cgroup is frozen, not this one');
    }
    if (!requestThaw(version, dir)) return entry('gone');
    return entry('thawed');
  } catch (err) {
    const what = base.name ?? base.id ?? dir;
    errors.push(`cannot thaw \`${what}\` through ${controlFile(version, dir)}: ${errorMessage(err)}`);
    return entry('skipped', errorMessage(err));
  }
}

/** A state file's freeze is live when its owner runs and its deadline has not passed. */
function isLive(s: StateFile): boolean {
  return s.state.pid !== process.pid && pidAlive(s.state.pid) && Date.parse(s.state.deadline) > Date.now();
}

/** Engine containers by id, or undefined (with a note) when the engine cannot be asked. */
async function engineContainers(engine: EngineClient | undefined, notes: string[]): Promise<Map<string, { name: string; paused: boolean }> | undefined> {
  if (!engine) return undefined;
  try {
    const list = await engine.json<{ Id: string; Names?: string[]; State?: string }[]>('GET', '/containers/json', { query: { all: '1' } });
    const map = new Map<string, { name: string; paused: boolean }>();
    for (const c of list) map.set(c.Id, { name: (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, ''), paused: c.State === 'paused' });
    return map;
  } catch (err) {
    notes.push(
      `the engine could not be asked which frozen containers are its own or paused by \`docker pause\` (${errorMessage(err)}), ` +
        'so every frozen container cgroup found was thawed',
    );
    return undefined;
  }
}

/** Every cgroup directory below `root` (depth-first), skipping what cannot be read. */
async function* walk(root: string): AsyncGenerator<string> {
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop() as string;
    yield dir;
    const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) stack.push(path.join(dir, e.name));
  }
}

/** Frozen container cgroups in every mounted freezer hierarchy. */
async function scanFrozen(): Promise<{ version: FreezerVersion; dir: string; id: string }[]> {
  const mounts = await freezerMounts();
  const found: { version: FreezerVersion; dir: string; id: string }[] = [];
  const seen = new Set<string>();
  for (const [version, list] of [['v2', mounts.v2], ['v1', mounts.v1]] as const) {
    for (const m of list) {
      if (seen.has(m.mountPoint)) continue;
      seen.add(m.mountPoint);
      for await (const dir of walk(m.mountPoint)) {
        const id = containerIdOfCgroup(dir);
        if (!id) continue;
        try {
          if (selfFrozen(version, dir)) found.push({ version, dir, id });
        } catch {
          // unreadable: not ours to judge
        }
      }
    }
  }
  return found;
}

/** Thaws what the state files list; with `scan`, also frozen container cgroups found in the cgroup trees. */
export async function thawAll(options: { scan: boolean; engine?: EngineClient | undefined }): Promise<ThawReport> {
  const report: ThawReport = { entries: [], stateFiles: [], errors: [], notes: [] };
  const { files, bad } = await listStates();
  for (const b of bad) report.notes.push(`ignored ${b.path}: ${b.error}`);
  const liveDirs = new Set<string>();
  for (const s of files) {
    const live = isLive(s);
    if (live) {
      for (const c of s.state.cgroups) {
        liveDirs.add(c.dir);
        report.entries.push({
          id: c.id,
          name: c.name,
          version: c.version,
          dir: c.dir,
          source: 'state',
          result: 'skipped',
          note: `frozen by tsbak process ${s.state.pid}, still running and within its deadline ${s.state.deadline}: it thaws itself (or kill it, or name the container)`,
        });
      }
      report.stateFiles.push({ path: s.path, pid: s.state.pid, ownerAlive: true, removed: false });
      continue;
    }
    const errorsBefore = report.errors.length;
    for (const c of s.state.cgroups) {
      report.entries.push(thawDir(c.version ?? versionOfFile(c.file), c.dir ?? path.dirname(c.file), { id: c.id, name: c.name, source: 'state' }, report.errors));
    }
    const clean = report.errors.length === errorsBefore;
    if (clean) removeStateSync(s.path);
    report.stateFiles.push({ path: s.path, pid: s.state.pid, ownerAlive: pidAlive(s.state.pid), removed: clean });
  }
  if (!options.scan) return report;

  const handled = new Set(report.entries.map((e) => e.dir));
  const found = (await scanFrozen()).filter((f) => !handled.has(f.dir) && !liveDirs.has(f.dir));
  const known = found.length > 0 ? await engineContainers(options.engine, report.notes) : undefined;
  for (const f of found) {
    const c = known?.get(f.id);
    // Another engine's container is not ours to touch; tsbak's own runtime (cgroups /tsbak/<id>) has no pause, so its freezes are.
    if (known && !c && !isBuiltinRuntimeCgroup(f.dir)) continue;
    if (c?.paused) {
      report.entries.push({ id: f.id, name: c.name, version: f.version, dir: f.dir, source: 'scan', result: 'skipped', note: 'paused by docker: use docker unpause' });
      continue;
    }
    report.entries.push(thawDir(f.version, f.dir, { id: f.id, name: c?.name, source: 'scan' }, report.errors));
  }
  return report;
}

/** Thaws one container, named or by id, resolved through its runtime; also clears it from the state files. */
export async function thawContainer(ref: string, runtime: ContainerRuntime): Promise<ThawReport> {
  const report: ThawReport = { entries: [], stateFiles: [], errors: [], notes: [] };
  const found = await runtime.containers.find(ref);
  if (!found) {
    const where = runtime.kind === 'docker' ? `on the engine at ${runtime.location}` : `in tsbak's runtime at ${runtime.location}`;
    const ps = runtime.kind === 'docker' ? 'docker ps' : 'tsbak runtime ps';
    throw new FreezeError(ref, `no container \`${ref}\` ${where}`, `no container \`${ref}\` ${where}: name it as ${ps} shows it`);
  }
  const info = { Id: found.id, State: { Pid: found.pid, Paused: found.paused } };
  const name = found.name;
  const base = { id: info.Id, name, source: 'container' as const };
  const dirs = new Map<string, { version: FreezerVersion; recorded: boolean }>();

  // What the state files recorded for it (its cgroup may have moved or the container restarted since).
  const { files } = await listStates();
  for (const s of files) {
    const mine = s.state.cgroups.filter((c) => c.id === info.Id);
    if (mine.length === 0) continue;
    for (const c of mine) dirs.set(c.dir, { version: c.version, recorded: true });
    const rest = s.state.cgroups.filter((c) => c.id !== info.Id);
    if (rest.length === 0) removeStateSync(s.path);
    else writeStateSync(s.path, { ...s.state, cgroups: rest });
    report.stateFiles.push({ path: s.path, pid: s.state.pid, ownerAlive: pidAlive(s.state.pid), removed: rest.length === 0 });
  }

  if (info.State.Pid > 0) {
    const cg = await findCgroups(info.State.Pid).catch(() => undefined);
    for (const [dir, version] of [[cg?.v2Dir, 'v2'], [cg?.v1Dir, 'v1']] as const) {
      if (dir && !dirs.has(dir)) dirs.set(dir, { version, recorded: false });
    }
  } else if (dirs.size === 0) {
    report.notes.push(`container \`${name}\` is not running: nothing to thaw`);
  }
  for (const [dir, { version, recorded }] of dirs) {
    // tsbak never freezes a paused container, so a recorded freeze is ours; any other is docker's pause.
    if (info.State.Paused && !recorded) {
      report.entries.push({ ...base, version, dir, result: 'skipped', note: 'paused by docker: use docker unpause' });
      continue;
    }
    report.entries.push(thawDir(version, dir, base, report.errors));
  }
  return report;
}
