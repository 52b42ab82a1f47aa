/**
 * State files: what a tsbak process has frozen, written before the freeze and
 * removed after the thaw, so that `tsbak thaw` can recover after a crash.
 * They live in /run/tsbak/frozen as root, else $XDG_RUNTIME_DIR/tsbak/frozen,
 * else /tmp/tsbak-$UID/frozen.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, promises as fsp, renameSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isErrno } from '../errors.js';
import type { FreezerVersion } from './cgroup.js';

export interface FrozenCgroup {
  id: string;
  name: string;
  version: FreezerVersion;
  /** The cgroup directory. */
  dir: string;
  /** The file written to freeze and thaw (cgroup.freeze or freezer.state). */
  file: string;
}

export interface FreezeState {
  version: 1;
  /** The tsbak process that froze these. */
  pid: number;
  hostname: string;
  startedAt: string;
  /** After this the freeze is overdue: the owner or its watchdog should have thawed. */
  deadline: string;
  watchdogPid: number | null;
  cgroups: FrozenCgroup[];
}

/** Where state files live (created on demand). */
export function stateDir(): string {
  const uid = process.getuid?.() ?? -1;
  if (uid === 0) return '/run/tsbak/frozen';
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'tsbak', 'frozen');
  return path.join(os.tmpdir(), `tsbak-${uid}`, 'frozen');
}

/** A new state file name for this process. */
export function newStatePath(): string {
  return path.join(stateDir(), `${process.pid}-${randomBytes(4).toString('hex')}.json`);
}

/**
 * Writes a state file atomically (synchronously: it must exist before anything
 * is frozen). No fsync: a reboot, the only thing it would survive, thaws every cgroup anyway.
 */
export function writeStateSync(file: string, state: FreezeState): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(state, null, 2) + '\n');
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function removeStateSync(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
}

export interface StateFile {
  path: string;
  state: FreezeState;
}

/** Every readable state file; unreadable or malformed ones are returned in `bad`. */
export async function listStates(dir = stateDir()): Promise<{ files: StateFile[]; bad: { path: string; error: string }[] }> {
  const names = await fsp.readdir(dir).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return [] as string[];
    throw err;
  });
  const files: StateFile[] = [];
  const bad: { path: string; error: string }[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(dir, name);
    try {
      const state = JSON.parse(await fsp.readFile(file, 'utf8')) as FreezeState;
      if (state.version !== 1 || !Array.isArray(state.cgroups)) throw new Error('not a tsbak freeze state file');
      files.push({ path: file, state });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue; // removed meanwhile: its owner thawed
      bad.push({ path: file, error: (err as Error).message });
    }
  }
  return { files, bad };
}
