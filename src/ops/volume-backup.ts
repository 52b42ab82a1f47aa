import type { Repository } from '../repo/repository.js';
import type { ContainerRuntime, RuntimeContainer, RuntimeContainers, RuntimeVolume } from '../runtime/runtime.js';
import { VolumeStore } from '../volume/store.js';
import { backupTree, Fingerprints, scanFrozen, type BackupResult } from '../volume/archiver.js';
import { cloneTree, removeClone, scratchParentFor, supportsReflink } from '../volume/reflink.js';
import type { QuiesceMode, QuiesceRecord, VolumeRecord } from '../volume/record.js';
import { freezeContainers, type CgroupVersion, type FreezeReport, type FrozenGroup } from '../freeze/freezer.js';
import { FreezeError, FreezeExceededError } from '../freeze/errors.js';
import type { Digest } from '../util/digest.js';
import { TsbakError, errorMessage } from '../errors.js';
import { progress } from '../util/progress.js';

export interface VolumeBackupOptions {
  volumes: string[];
  quiesce: QuiesceMode;
  /** Freeze every container of the run at once, for consistency across volumes. */
  freezeTogether: boolean;
  maxFreezeMs: number;
  /** When a container cannot be frozen: fail (default), stop it instead, or copy without quiescing. */
  freezeFallback: 'fail' | 'stop' | 'none';
  hookTimeoutMs: number;
  cgroupVersion: CgroupVersion;
  /** auto: clone under the freeze where the filesystem has reflinks. */
  reflink: 'auto' | 'never';
  /** Trees of the previous backup of each volume: unchanged files are not read again. */
  parents: Map<string, Digest>;
  log?: (line: string) => void;
  /** Checked between volume groups only: a group, once begun, finishes and thaws. */
  signal?: AbortSignal;
}

export interface VolumeBackupResult {
  records: VolumeRecord[];
  failures: { item: string; error: string }[];
}

const LABEL_QUIESCE = 'tsbak.quiesce';
const LABEL_PRE = 'tsbak.pre-backup';
const LABEL_POST = 'tsbak.post-backup';

interface User {
  container: RuntimeContainer;
  name: string;
  mode: QuiesceMode;
}

interface Work {
  volume: RuntimeVolume;
  users: User[];
  parent: Digest | undefined;
  result?: BackupResult;
  /** What the pre-copy saw of each entry, for the frozen pass. */
  seen?: Fingerprints;
  /** The frozen pass, scanned; its trees are built after the thaw. */
  frozen?: { finish(): Promise<BackupResult> };
  method: VolumeRecord['method'];
  quiesce: QuiesceRecord[];
  clone?: string;
  error?: unknown;
}

/**
 * Back up engine volumes consistently. Per group (one volume, or all of them
 * with --freeze-together): run pre-backup hooks, stop the containers that ask
 * for it, copy everything once, freeze the rest for milliseconds while only
 * what changed since is copied (or, on a reflink filesystem, while the volume
 * is cloned), thaw, start, run post-backup hooks. A container is never left
 * frozen or stopped: every step undoes itself in `finally`.
 */
export async function backupVolumes(repo: Repository, runtime: ContainerRuntime, options: VolumeBackupOptions): Promise<VolumeBackupResult> {
  const containers = runtime.containers;
  const failures: VolumeBackupResult['failures'] = [];
  const works: Work[] = [];
  for (const name of options.volumes) {
    try {
      const volume = await runtime.volumes.inspect(name);
      if (volume.driver !== 'local') throw new TsbakError(`volume ${name} uses driver ${volume.driver}; only local volumes can be read`);
      works.push({ volume, users: await usersOf(containers, name, options.quiesce), parent: options.parents.get(name), method: 'plain', quiesce: [] });
    } catch (err) {
      failures.push({ item: `volume ${name}`, error: errorMessage(err) });
    }
  }
  const store = await VolumeStore.forRepository(repo);
  try {
    const groups = options.freezeTogether ? [works] : works.map((w) => [w]);
    for (const group of groups) {
      options.signal?.throwIfAborted();
      await backupGroup(group, store, containers, options);
    }
    await store.flush();
  } finally {
    await store.close();
  }
  const records: VolumeRecord[] = [];
  for (const w of works) {
    if (w.error !== undefined || !w.result) {
      failures.push({ item: `volume ${w.volume.name}`, error: errorMessage(w.error ?? 'not backed up') });
      continue;
    }
    const s = w.result.stats;
    if (w.result.errors.length > 0) {
      failures.push({ item: `volume ${w.volume.name}`, error: `could not read ${w.result.errors.map((e) => `${e.path} (${e.message})`).join(', ')}` });
      continue;
    }
    records.push({
      name: w.volume.name,
      driver: w.volume.driver,
      labels: w.volume.labels,
      options: w.volume.options,
      tree: w.result.tree,
      stats: { files: s.files, dirs: s.dirs, others: s.others, bytes: s.bytes, readBytes: s.readBytes, newChunks: s.newChunks, newBytes: s.newBytes, reusedFiles: s.reusedFiles },
      method: w.method,
      quiesce: w.quiesce,
      warnings: w.result.warnings,
    });
  }
  return { records, failures };
}

async function usersOf(containers: RuntimeContainers, volume: string, defaultMode: QuiesceMode): Promise<User[]> {
  const users: User[] = [];
  for (const container of await containers.list({ volume, running: true })) {
    const label = container.labels[LABEL_QUIESCE];
    const mode: QuiesceMode = label === 'freeze' || label === 'stop' || label === 'none' ? label : defaultMode;
    users.push({ container, name: container.name, mode });
  }
  return users;
}

async function runHooks(containers: RuntimeContainers, users: User[], label: string, timeoutMs: number, log?: (line: string) => void): Promise<void> {
  for (const user of users) {
    const command = user.container.labels[label];
    if (!command) continue;
    log?.(`running ${label} hook in ${user.name}: ${command}`);
    const result = await containers.exec(user.container.id, command, timeoutMs);
    if (result.exitCode !== 0) {
      throw new TsbakError(`${label} hook \`${command}\` in container ${user.name} exited with ${result.exitCode}: ${result.output.trim().slice(-500)}`);
    }
  }
}

async function backupGroup(group: Work[], store: VolumeStore, containers: RuntimeContainers, options: VolumeBackupOptions): Promise<void> {
  const users = uniqueUsers(group.flatMap((w) => w.users));
  const stopped: User[] = [];
  let hooksRan = false;
  try {
    await runHooks(containers, users, LABEL_PRE, options.hookTimeoutMs, options.log);
    hooksRan = true;
    for (const user of users.filter((u) => u.mode === 'stop')) {
      options.log?.(`stopping ${user.name}`);
      await containers.stop(user.container.id);
      stopped.push(user);
    }
    let toFreeze = users.filter((u) => u.mode === 'freeze');
    const reflinkParents = new Map<Work, string>();
    if (toFreeze.length > 0 && options.reflink === 'auto') {
      for (const w of group) {
        const parent = scratchParentFor(w.volume.mountpoint);
        if (parent && supportsReflink(parent)) reflinkParents.set(w, parent);
      }
    }
    // Pre-copy: everything once, before anyone is frozen.
    if (toFreeze.length > 0) {
      for (const w of group.filter((w) => !reflinkParents.has(w))) {
        w.seen = new Fingerprints();
        w.result = await copy(w, store, w.parent, options, w.volume.mountpoint, false, w.seen);
      }
    }
    let group_: FrozenGroup | undefined;
    if (toFreeze.length > 0) {
      try {
        group_ = await freezeStillRunning(toFreeze, containers, options);
        if (!group_) toFreeze = [];
      } catch (err) {
        if (!(err instanceof FreezeError) || options.freezeFallback === 'fail') throw err;
        options.log?.(`${errorMessage(err)}; falling back to --freeze-fallback ${options.freezeFallback}`);
        if (options.freezeFallback === 'stop') {
          for (const user of toFreeze) {
            await containers.stop(user.container.id);
            stopped.push(user);
            user.mode = 'stop';
          }
        } else for (const user of toFreeze) user.mode = 'none';
        toFreeze = [];
        reflinkParents.clear();
      }
    }
    let reports: FreezeReport[] = [];
    if (group_) {
      try {
        for (const w of group) {
          const parent = reflinkParents.get(w);
          if (parent) {
            const clone = cloneTree(w.volume.mountpoint, parent);
            w.clone = clone.root;
            if (clone.problems.length > 0) throw new TsbakError(`cloning volume ${w.volume.name} failed: ${clone.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
            w.method = 'reflink';
          } else {
            // Under the freeze only an lstat of every entry, and the contents of what changed since the
            // pre-copy; the trees are built and stored after the thaw.
            w.frozen = await scanFrozen(w.volume.mountpoint, store, { result: w.result as BackupResult, seen: w.seen as Fingerprints });
            w.method = 'precopy';
          }
        }
      } finally {
        reports = await group_.thaw();
      }
      const exceeded = reports.find((r) => r.exceeded);
      if (exceeded) throw new FreezeExceededError(exceeded.name, options.maxFreezeMs, exceeded.windowMs);
    }
    for (const w of group) {
      w.seen = undefined;
      if (w.frozen) {
        w.result = await w.frozen.finish();
        w.frozen = undefined;
      } else if (w.clone) {
        try {
          w.result = await copy(w, store, w.parent, options, w.clone, true);
        } finally {
          removeClone(w.clone);
          w.clone = undefined;
        }
      } else if (!w.result || toFreeze.length === 0) {
        // No freeze (stop, none, or a fallback after the pre-copy): one pass, reusing a pre-copy if there was one.
        w.result = await copy(w, store, w.result?.tree ?? w.parent, options);
      }
      const mine = new Set(w.users.map((u) => u.container.id));
      w.quiesce = [
        ...reports.filter((r) => mine.has(r.id)).map((r) => ({ container: r.name, mode: 'freeze' as const, windowMs: round(r.windowMs), cgroup: r.version })),
        ...w.users.filter((u) => u.mode !== 'freeze').map((u) => ({ container: u.name, mode: u.mode })),
      ];
      for (const q of w.quiesce) if (q.windowMs !== undefined) options.log?.(`volume ${w.volume.name}: ${q.container} frozen for ${q.windowMs} ms (${w.method})`);
    }
  } catch (err) {
    for (const w of group) {
      w.error ??= err;
      if (w.clone) removeClone(w.clone);
    }
  } finally {
    for (const user of stopped.reverse()) {
      try {
        await containers.start(user.container.id);
      } catch (err) {
        for (const w of group) w.error ??= new TsbakError(`container ${user.name} was stopped for the backup and could not be started again: ${errorMessage(err)}`);
      }
    }
    if (hooksRan) {
      try {
        await runHooks(containers, users, LABEL_POST, options.hookTimeoutMs, options.log);
      } catch (err) {
        for (const w of group) w.error ??= err;
      }
    }
  }
}

/** One pass over a volume (or its clone: there every inode and ctime is new, so only size and mtime tell a change). */
async function copy(
  w: Work,
  store: VolumeStore,
  parent: Digest | undefined,
  options: VolumeBackupOptions,
  from = w.volume.mountpoint,
  clone = false,
  record?: Fingerprints,
): Promise<BackupResult> {
  options.log?.(`copying volume ${w.volume.name}`);
  progress.start(`volume ${w.volume.name}`);
  let last = 0;
  try {
    return await backupTree(from, store, {
      ...(parent ? { parent } : {}),
      ...(clone ? { ignoreInode: true } : {}),
      ...(record ? { record } : {}),
      onProgress: (p) => {
        progress.add(p.readBytes - last);
        last = p.readBytes;
      },
    });
  } finally {
    progress.stop();
  }
}

/**
 * Freeze the users that still run. A container that exited since the backup
 * started writes nothing any more: it is dropped (mode none) rather than
 * failing the volume. Returns undefined when none is left to freeze.
 */
async function freezeStillRunning(users: User[], containers: RuntimeContainers, options: VolumeBackupOptions): Promise<FrozenGroup | undefined> {
  let remaining = users;
  for (;;) {
    if (remaining.length === 0) return undefined;
    try {
      return await freezeContainers(
        remaining.map((u) => ({ id: u.container.id, name: u.name, pid: u.container.pid })),
        { maxFreezeMs: options.maxFreezeMs, version: options.cgroupVersion, watchdog: true },
      );
    } catch (err) {
      if (!(err instanceof FreezeError)) throw err;
      const exited: User[] = [];
      for (const u of remaining) {
        const now = await containers.find(u.container.id);
        if (!now?.running || now.pid !== u.container.pid) exited.push(u);
      }
      if (exited.length === 0) throw err;
      for (const u of exited) {
        options.log?.(`container ${u.name} stopped during the backup; it is not frozen`);
        u.mode = 'none';
      }
      remaining = remaining.filter((u) => !exited.includes(u));
    }
  }
}

function uniqueUsers(users: User[]): User[] {
  const byId = new Map<string, User>();
  for (const u of users) byId.set(u.container.id, u);
  return [...byId.values()];
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
