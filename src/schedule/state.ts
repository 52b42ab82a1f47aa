/**
 * The daemon's memory across restarts: per schedule, the last cron slot it ran (or
 * deliberately skipped), and how the last run ended. Written atomically after each change.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import { TsbakError, errorMessage, isErrno } from '../errors.js';

export interface ScheduleState {
  /** The cron slot (ms since the epoch) last run or skipped; a later slot that passed is missed. */
  lastSlot: number;
  lastStart?: string;
  lastFinish?: string;
  lastOutcome?: string;
  lastSuccess?: string;
  lastDurationMs?: number;
}

export interface DaemonState {
  version: 1;
  schedules: Record<string, ScheduleState>;
}

export function defaultStatePath(): string {
  if (process.getuid?.() === 0) return '/var/lib/tsbak/schedule-state.json';
  return path.join(process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local/state'), 'tsbak/schedule-state.json');
}

export async function readState(file: string): Promise<DaemonState> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { version: 1, schedules: {} };
    throw new TsbakError(`cannot read the schedule state ${file}: ${errorMessage(err)}`);
  }
  try {
    const state = JSON.parse(text) as DaemonState;
    if (state.version !== 1 || typeof state.schedules !== 'object' || state.schedules === null) throw new Error('not a version 1 state document');
    return state;
  } catch (err) {
    throw new TsbakError(`the schedule state ${file} is damaged (${errorMessage(err)}): move it away; the daemon then starts afresh and misses no future run`);
  }
}

export async function writeState(file: string, state: DaemonState): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(state, null, 2) + '\n');
}
