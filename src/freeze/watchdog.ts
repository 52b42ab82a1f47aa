/**
 * The watchdog: a detached process that outlives tsbak and thaws what tsbak
 * froze if tsbak dies (SIGKILL, OOM kill, a crash in native code) or if the
 * freeze passes its deadline. tsbak holds the write end of its stdin; the
 * kernel closes it when tsbak dies, whatever the cause, and the watchdog reads
 * end-of-file. See watchdog-main.ts for the protocol.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.js';
import { FreezeError } from './errors.js';
import { stateDir } from './state.js';
import type { WatchdogConfig } from './watchdog-main.js';

const MAIN = fileURLToPath(new URL('./watchdog-main.js', import.meta.url));
const READY_TIMEOUT_MS = 10_000;

export interface WatchdogOptions {
  /** Control files (cgroup.freeze / freezer.state) to thaw. */
  files: string[];
  /** The state file recording the freeze, if any. */
  stateFile?: string;
  /** Thaw this many ms after start(), whatever tsbak does. */
  deadlineMs: number;
}

export interface Watchdog {
  readonly pid: number;
  /** Call right before freezing: the deadline counts from here. */
  start(): void;
  /** The freeze ended cleanly: the watchdog exits without thawing. Idempotent, synchronous. */
  dismiss(): void;
}

/** Where watchdogs log what they thawed: next to the state directory. */
export function watchdogLogPath(): string {
  return path.join(path.dirname(stateDir()), 'watchdog.log');
}

function openLog(): number | 'ignore' {
  try {
    const file = watchdogLogPath();
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    return openSync(file, 'a', 0o600);
  } catch {
    return 'ignore';
  }
}

/** Spawns a watchdog and resolves once it is armed (it has the config and watches). */
export async function startWatchdog(options: WatchdogOptions): Promise<Watchdog> {
  const log = openLog();
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [MAIN], {
      detached: true,
      stdio: ['pipe', 'pipe', log],
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
  } finally {
    if (typeof log === 'number') closeSync(log);
  }
  const stdin = child.stdin as Socket;
  const stdout = child.stdout as Socket;
  stdin.on('error', () => {}); // a watchdog that exited (deadline) closes its end
  const config: WatchdogConfig = {
    ppid: process.pid,
    files: options.files,
    stateFile: options.stateFile ?? null,
    deadlineMs: Math.max(1, Math.ceil(options.deadlineMs)),
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => fail(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      child.once('error', fail);
      child.once('exit', (code, sig) => fail(new Error(`it exited (${sig ?? `code ${code}`}) before it was armed; see ${watchdogLogPath()}`)));
      stdout.setEncoding('utf8');
      stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('ready\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
      stdin.write(JSON.stringify(config) + '\n');
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw new FreezeError(undefined, `cannot start the freeze watchdog (${MAIN}): ${errorMessage(err)}`, undefined, { cause: err });
  }
  child.removeAllListeners('exit');
  child.removeAllListeners('error');
  child.on('error', () => {});
  stdout.removeAllListeners('data');
  stdout.destroy();
  // Neither the child nor its pipe may keep tsbak alive.
  child.unref();
  stdin.unref();
  let dismissed = false;
  return {
    pid: child.pid ?? -1,
    start(): void {
      // libuv writes to a pipe at once when nothing is queued: the watchdog has it before the first freeze.
      if (!dismissed) stdin.write('start\n');
    },
    dismiss(): void {
      if (dismissed) return;
      dismissed = true;
      // A pipe write is attempted synchronously by libuv, so this reaches the watchdog even from an 'exit' handler.
      stdin.end('exit\n');
    },
  };
}
