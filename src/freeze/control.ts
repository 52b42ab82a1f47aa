/**
 * The freezer files themselves, synchronously (cgroupfs writes do not block,
 * and the exit paths that thaw cannot wait for the event loop):
 * v2 `cgroup.freeze` (0/1) with `cgroup.events` (`frozen 0/1`), v1
 * `freezer.state` (THAWED/FREEZING/FROZEN) with `freezer.self_freezing`.
 * Kept free of other imports: the watchdog process loads it too.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';

export type Version = 'v1' | 'v2';
export type FreezerState = 'thawed' | 'freezing' | 'frozen';

function code(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as NodeJS.ErrnoException).code : undefined;
}

/** Writes `value` to an existing cgroup file; false when the cgroup is gone. */
function writeExisting(file: string, value: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r+');
  } catch (err) {
    if (code(err) === 'ENOENT' || code(err) === 'ENODEV') return false;
    throw err;
  }
  try {
    writeSync(fd, value);
  } catch (err) {
    // a cgroup removed between the open and the write
    if (code(err) === 'ENODEV' || code(err) === 'ENOENT') return false;
    throw err;
  } finally {
    closeSync(fd);
  }
  return true;
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (code(err) === 'ENOENT' || code(err) === 'ENODEV') return undefined;
    throw err;
  }
}

/** The file a freeze writes (cgroup.freeze or freezer.state) in cgroup directory `dir`. */
export function controlFile(version: Version, dir: string): string {
  return path.join(dir, version === 'v2' ? 'cgroup.freeze' : 'freezer.state');
}

/** Asks the kernel to freeze the cgroup; false when it is gone. */
export function requestFreeze(version: Version, dir: string): boolean {
  return writeExisting(controlFile(version, dir), version === 'v2' ? '1' : 'FROZEN');
}

/** Asks the kernel to thaw the cgroup; false when it is gone (nothing left to thaw). */
export function requestThaw(version: Version, dir: string): boolean {
  return writeExisting(controlFile(version, dir), version === 'v2' ? '0' : 'THAWED');
}

/** Thaws through the control file path alone (as state files record it). */
export function thawFile(file: string): boolean {
  const v2 = path.basename(file) === 'cgroup.freeze';
  return writeExisting(file, v2 ? '0' : 'THAWED');
}

/** The effective state of the cgroup (a frozen parent makes it frozen too); undefined when it is gone. */
export function freezerState(version: Version, dir: string): FreezerState | undefined {
  if (version === 'v2') {
    const events = readOptional(path.join(dir, 'cgroup.events'));
    if (events === undefined) return undefined;
    if (/^frozen 1$/m.test(events)) return 'frozen';
    return selfFrozen(version, dir) ? 'freezing' : 'thawed';
  }
  const state = readOptional(path.join(dir, 'freezer.state'))?.trim();
  if (state === undefined) return undefined;
  return state === 'FROZEN' ? 'frozen' : state === 'FREEZING' ? 'freezing' : 'thawed';
}

/** True when this cgroup itself was asked to freeze (not merely a parent). */
export function selfFrozen(version: Version, dir: string): boolean {
  if (version === 'v2') return readOptional(path.join(dir, 'cgroup.freeze'))?.trim() === '1';
  return readOptional(path.join(dir, 'freezer.self_freezing'))?.trim() === '1';
}
