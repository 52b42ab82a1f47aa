/**
 * Finding a process's cgroups: the v2 (unified) one with `cgroup.freeze` and
 * the v1 `freezer` one with `freezer.state`. Mount points come from
 * /proc/self/mountinfo, so hybrid hosts (v2 at /sys/fs/cgroup/unified, v1 per
 * controller), pure v2 hosts and odd mount layouts all work; the path inside
 * the hierarchy comes from /proc/<pid>/cgroup, whatever the cgroup driver
 * (cgroupfs `/docker/<id>`, systemd `/system.slice/docker-<id>.scope`) or
 * `--cgroup-parent`.
 */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { isErrno } from '../errors.js';
import { CgroupError } from './errors.js';
import { parseMountinfo as parseMountEntries } from '../sys/mountinfo.js';

export type FreezerVersion = 'v1' | 'v2';

export interface CgroupMount {
  version: FreezerVersion;
  /** Where the hierarchy is mounted, e.g. /sys/fs/cgroup/unified. */
  mountPoint: string;
  /** The cgroup the mount shows at its mount point (`/` unless a sub-tree is mounted). */
  root: string;
  /** v1: the controllers of the hierarchy (`freezer`, `cpu,cpuacct`, `name=systemd`); v2: []. */
  controllers: string[];
}

/** A process's freezer cgroups: directories, absent when the hierarchy or the file is missing. */
export interface ProcessCgroups {
  pid: number;
  /** The v2 cgroup path from /proc/<pid>/cgroup (`0::<path>`), if any. */
  v2Path: string | undefined;
  /** The v2 cgroup directory that has cgroup.freeze. */
  v2Dir: string | undefined;
  /** The v1 freezer cgroup path from /proc/<pid>/cgroup, if any. */
  v1Path: string | undefined;
  /** The v1 freezer cgroup directory that has freezer.state. */
  v1Dir: string | undefined;
}

/** The cgroup mounts listed in a mountinfo text (proc(5)). */
export function parseMountinfo(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const m of parseMountEntries(text)) {
    if (m.fstype === 'cgroup2') {
      mounts.push({ version: 'v2', mountPoint: m.mountPoint, root: m.root, controllers: [] });
    } else if (m.fstype === 'cgroup') {
      const known = new Set(['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'xattr', 'noprefix']);
      const controllers = m.superOptions.split(',').filter((o) => o && !known.has(o) && !o.startsWith('release_agent='));
      mounts.push({ version: 'v1', mountPoint: m.mountPoint, root: m.root, controllers });
    }
  }
  return mounts;
}

export interface ProcCgroupLines {
  /** The `0::<path>` line's path. */
  v2: string | undefined;
  /** v1 paths by controller (each controller of a `cpu,cpuacct` line gets the path). */
  v1: Map<string, string>;
}

/** Parses /proc/<pid>/cgroup (`hierarchy-ID:controller-list:cgroup-path`). */
export function parseProcCgroup(text: string): ProcCgroupLines {
  const result: ProcCgroupLines = { v2: undefined, v1: new Map() };
  for (const line of text.split('\n')) {
    if (!line) continue;
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const id = line.slice(0, first);
    const controllers = line.slice(first + 1, second);
    const cgPath = line.slice(second + 1);
    if (id === '0' && controllers === '') result.v2 = cgPath;
    else for (const c of controllers.split(',')) if (c) result.v1.set(c, cgPath);
  }
  return result;
}

/** The directory of cgroup `cgPath` in `mount`, or undefined when the mount does not show it. */
export function cgroupDir(mount: CgroupMount, cgPath: string): string | undefined {
  const root = mount.root === '/' ? '' : mount.root.replace(/\/+$/, '');
  if (root && cgPath !== root && !cgPath.startsWith(root + '/')) return undefined;
  const rel = cgPath.slice(root.length);
  return path.join(mount.mountPoint, rel);
}

let mountsCache: { at: number; mounts: CgroupMount[] } | undefined;

/** The cgroup mounts of this process's mount namespace (cached for a second). */
export async function cgroupMounts(): Promise<CgroupMount[]> {
  const now = Date.now();
  if (mountsCache && now - mountsCache.at < 1000) return mountsCache.mounts;
  const text = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  const mounts = parseMountinfo(text);
  mountsCache = { at: now, mounts };
  return mounts;
}

/** The v2 mounts, and the v1 mounts of the freezer controller. */
export async function freezerMounts(): Promise<{ v2: CgroupMount[]; v1: CgroupMount[] }> {
  const mounts = await cgroupMounts();
  return {
    v2: mounts.filter((m) => m.version === 'v2'),
    v1: mounts.filter((m) => m.version === 'v1' && m.controllers.includes('freezer')),
  };
}

/**
 * Finds the freezer cgroups of process `pid`. Throws CgroupError when the process
 * is gone; a hierarchy without the process's cgroup leaves its fields undefined.
 */
export async function findCgroups(pid: number): Promise<ProcessCgroups> {
  if (!Number.isInteger(pid) || pid <= 0) throw new CgroupError('it is not running (no process id)');
  let text: string;
  try {
    text = await fsp.readFile(`/proc/${pid}/cgroup`, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) throw new CgroupError(`its process ${pid} is gone (was it stopped?)`);
    throw new CgroupError(`cannot read /proc/${pid}/cgroup: ${(err as Error).message}`, { cause: err });
  }
  const lines = parseProcCgroup(text);
  const mounts = await freezerMounts();
  const pick = (candidates: CgroupMount[], cgPath: string | undefined, file: string): string | undefined => {
    if (cgPath === undefined) return undefined;
    for (const m of candidates) {
      const dir = cgroupDir(m, cgPath);
      if (dir && existsSync(path.join(dir, file))) return dir;
    }
    return undefined;
  };
  const v1Path = lines.v1.get('freezer');
  return {
    pid,
    v2Path: lines.v2,
    v2Dir: pick(mounts.v2, lines.v2, 'cgroup.freeze'),
    v1Path,
    v1Dir: pick(mounts.v1, v1Path, 'freezer.state'),
  };
}

/** This process's own freezer cgroup paths, so that tsbak never freezes itself. */
export async function ownCgroupPaths(): Promise<{ v2: string | undefined; v1: string | undefined }> {
  const lines = parseProcCgroup(await fsp.readFile('/proc/self/cgroup', 'utf8'));
  return { v2: lines.v2, v1: lines.v1.get('freezer') };
}

/** True when `inner` is `outer` or below it. */
export function isWithin(inner: string, outer: string): boolean {
  if (outer === '/') return true;
  const o = outer.replace(/\/+$/, '');
  return inner === o || inner.startsWith(o + '/');
}

/** The 64-hex container id a cgroup directory is named after (`<id>`, `docker-<id>.scope`, `libpod-<id>.scope`), if any. */
export function containerIdOfCgroup(dir: string): string | undefined {
  const m = /(?:^|[-/])([0-9a-f]{64})(?:\.scope)?$/.exec(path.basename(dir));
  return m?.[1];
}
