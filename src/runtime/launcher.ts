/**
 * Drives native/build/tsbak-runtime, the built-in runtime's launcher and
 * monitor (see native/README.md): start a bundle, read a container's state
 * from its state directory, signal it, run a command inside it, read its log.
 *
 * The state directory is the monitor's: `state.json` once the entrypoint has
 * exec'd (pid and /proc start time of the container's pid 1 and of the
 * monitor), `exit.json` once pid 1 has exited, `container.log` (Docker's
 * json-file format). A pid alone never identifies the container: its
 * /proc/PID/stat start time must match too, so a recycled pid is never taken
 * for it.
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { TsbakError, isErrno } from '../errors.js';
import type { ExecResult } from './runtime.js';

/** The launcher cannot be used here: not built, or not root. */
export class LauncherUnavailableError extends TsbakError {}

/** `start` failed: the message is the launcher's one-line reason. */
export class ContainerStartError extends TsbakError {}

/** A command could not be run inside a container (not running, could not enter it, timed out). */
export class ContainerExecError extends TsbakError {}

// dist/src/runtime/launcher.js → <package>/native/build/tsbak-runtime
const DEFAULT_BINARY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../native/build/tsbak-runtime');

/** The launcher binary; TSBAK_RUNTIME_LAUNCHER overrides the packaged one. Throws LauncherUnavailableError. */
export function launcherPath(): string {
  const binary = process.env.TSBAK_RUNTIME_LAUNCHER || DEFAULT_BINARY;
  if (!existsSync(binary)) {
    throw new LauncherUnavailableError(
      `the built-in runtime's launcher is not built (no C compiler at npm install?): apt-get install gcc, then npm rebuild tsbak (looked for ${binary})`,
    );
  }
  if (process.getuid?.() !== 0) throw new LauncherUnavailableError('the built-in runtime needs root (namespaces, cgroups, mounts)');
  return binary;
}

interface RunResult {
  code: number;
  stderr: string;
}

/** Runs the launcher with stdin on /dev/null; `onOutput` gets stdout and stderr (else stderr is collected). */
function runLauncher(args: string[], timeoutMs: number, onOutput?: (chunk: Buffer) => void): Promise<RunResult & { timedOut: boolean }> {
  const binary = launcherPath();
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const err: Buffer[] = [];
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM'); // exec forwards it to the command
      killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => onOutput?.(b));
    child.stderr.on('data', (b: Buffer) => (onOutput ? onOutput(b) : err.push(b)));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new LauncherUnavailableError(`cannot run the built-in runtime's launcher ${binary}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolve({ code: code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0), stderr: Buffer.concat(err).toString('utf8'), timedOut });
    });
  });
}

/** The launcher's message without its `tsbak-runtime: ` prefix. */
function launcherMessage(stderr: string): string {
  return stderr.trim().replace(/^tsbak-runtime: /gm, '') || 'no message';
}

// --- state ----------------------------------------------------------------------

export type ContainerStatus = 'running' | 'exited' | 'dead';

export interface ContainerState {
  /** running: pid 1 is alive; exited: exit.json is written; dead: neither (the monitor died, or it never started). */
  status: ContainerStatus;
  /** Host pid of the container's pid 1. */
  pid?: number;
  /** Its start time (field 22 of /proc/PID/stat). */
  startTime?: string;
  /** RFC 3339 with nanoseconds. */
  started?: string;
  finished?: string;
  exitCode?: number;
  /** The signal that killed pid 1 (`SIGKILL`), or null when it exited. */
  signal?: string | null;
  /** The container's cgroup directories (v1 hierarchies and v2). */
  cgroups?: string[];
}

interface StateFile {
  pid: number;
  startTime: string;
  monitorPid: number;
  monitorStartTime: string;
  started: string;
  cgroups?: string[];
}

interface ExitFile {
  exitCode: number;
  signal: string | null;
  finished: string;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new TsbakError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Start time of a live (not zombie) process, or undefined. */
export function liveStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may hold spaces and parentheses: fields restart after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X') return undefined;
  return fields[19]; // field 22 overall
}

function isAlive(pid: number, startTime: string): boolean {
  return liveStartTime(pid) === startTime;
}

/** How long to wait for exit.json when pid 1 is gone but its monitor still runs (draining output, removing cgroups). */
const MONITOR_FINISH_MS = 10_000;

export async function readContainerState(stateDir: string): Promise<ContainerState> {
  const statePath = path.join(stateDir, 'state.json');
  const exitPath = path.join(stateDir, 'exit.json');
  const deadline = Date.now() + MONITOR_FINISH_MS;
  for (;;) {
    const state = await readJson<StateFile>(statePath);
    const exit = await readJson<ExitFile>(exitPath);
    if (!state) return { status: 'dead' };
    const base: ContainerState = { status: 'dead', pid: state.pid, startTime: state.startTime, started: state.started, cgroups: state.cgroups ?? [] };
    if (exit) return { ...base, status: 'exited', exitCode: exit.exitCode, signal: exit.signal, finished: exit.finished };
    if (isAlive(state.pid, state.startTime)) return { ...base, status: 'running' };
    if (!isAlive(state.monitorPid, state.monitorStartTime) || Date.now() > deadline) return base;
    await sleep(10);
  }
}

// --- start ------------------------------------------------------------------------

export interface StartOptions {
  /** The bundle directory (config.json, and the rootfs it names). */
  bundle: string;
  /** The container's state directory (created; state.json, exit.json, container.log). */
  stateDir: string;
  id: string;
  /** Default 60 s. */
  timeoutMs?: number;
}

/**
 * Starts the bundle's container and resolves once its entrypoint has exec'd
 * (with its state: running, or already exited for a short-lived command).
 * Rejects with ContainerStartError carrying the launcher's reason
 * (`exec /app/run: No such file or directory (the entrypoint does not exist in the image)`).
 */
export async function startContainer(opts: StartOptions): Promise<ContainerState> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const r = await runLauncher(['start', '--bundle', opts.bundle, '--state', opts.stateDir, '--id', opts.id], timeoutMs);
  if (r.timedOut) throw new ContainerStartError(`container ${opts.id} did not start within ${timeoutMs} ms (its setup is stuck; see ${opts.stateDir})`);
  if (r.code !== 0) throw new ContainerStartError(`container ${opts.id}: ${launcherMessage(r.stderr)}`);
  return readContainerState(opts.stateDir);
}

// --- signals --------------------------------------------------------------------------

/**
 * Sends `signal` to the container's pid 1 after checking that the pid still
 * is that process (pid and start time). Returns false when it is not running.
 * Note: pid 1 of a pid namespace only gets the signals it handles, and SIGKILL.
 */
export async function signalContainer(stateDir: string, signal: NodeJS.Signals | number): Promise<boolean> {
  const state = await readContainerState(stateDir);
  if (state.status !== 'running' || state.pid === undefined || state.startTime === undefined) return false;
  if (!isAlive(state.pid, state.startTime)) return false;
  try {
    process.kill(state.pid, signal);
    return true;
  } catch (err) {
    if (isErrno(err, 'ESRCH')) return false;
    throw err;
  }
}

// --- exec ---------------------------------------------------------------------------------

export interface ExecOptions {
  /** argv: e.g. ['sh', '-c', 'pg_dump …']. */
  cmd: string[];
  /** KEY=VALUE; default PATH only. Pass the container's env for a hook. */
  env?: string[];
  /** Default `/`. */
  cwd?: string;
  /** Default root. */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  timeoutMs: number;
}

/** Output kept from a command: its end, where the error usually is. */
const OUTPUT_LIMIT = 64 * 1024;

/** Keeps the last `limit` bytes of a stream. */
class OutputTail {
  private parts: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.parts.push(chunk);
    this.bytes += chunk.length;
    while (this.parts.length > 1 && this.bytes - (this.parts[0] as Buffer).length >= this.limit) this.bytes -= (this.parts.shift() as Buffer).length;
  }
  text(): string {
    const all = Buffer.concat(this.parts);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/**
 * Runs `cmd` inside the running container (its namespaces, cgroups,
 * capabilities; the given user), and returns its exit code (128+signal when
 * killed) and the last 64 KiB of its combined stdout and stderr. A command
 * that cannot be found gives 127 and the launcher's message as output.
 * Throws ContainerExecError when the container is not running, cannot be
 * entered, or the command outlives `timeoutMs` (it is then killed).
 */
export async function execInContainer(stateDir: string, opts: ExecOptions): Promise<ExecResult> {
  const state = await readContainerState(stateDir);
  const what = `command \`${opts.cmd.join(' ')}\``;
  if (state.status !== 'running' || state.pid === undefined || state.startTime === undefined) {
    throw new ContainerExecError(`cannot run ${what}: the container of ${stateDir} is not running (${state.status})`);
  }
  if (opts.cmd.length === 0) throw new ContainerExecError('cannot run an empty command in a container');
  const args = ['exec', '--pid', String(state.pid), '--start-time', state.startTime, '--cwd', opts.cwd ?? '/'];
  for (const e of opts.env ?? []) args.push('--env', e);
  if (opts.user) {
    args.push('--user', `${opts.user.uid}:${opts.user.gid}`);
    if (opts.user.additionalGids?.length) args.push('--groups', opts.user.additionalGids.join(','));
  }
  for (const dir of state.cgroups ?? []) args.push('--cgroup-procs', path.join(dir, 'cgroup.procs'));
  args.push('--', ...opts.cmd);
  const tail = new OutputTail(OUTPUT_LIMIT);
  const r = await runLauncher(args, opts.timeoutMs, (b) => tail.push(b));
  if (r.timedOut) throw new ContainerExecError(`${what} in the container of ${stateDir} did not finish within ${opts.timeoutMs} ms; it was killed`);
  const output = tail.text();
  const launcherLine = /^tsbak-runtime: exec: (.*)$/m.exec(output);
  if (r.code === 125 && launcherLine) throw new ContainerExecError(`cannot run ${what} in the container of ${stateDir}: ${launcherLine[1]}`);
  return { exitCode: r.code, output };
}

// --- logs -------------------------------------------------------------------------------------

export interface LogEntry {
  /** RFC 3339 with nanoseconds, UTC. */
  time: string;
  stream: 'stdout' | 'stderr';
  /** The line, with its newline (a piece of a long line, or the last output, has none). */
  log: string;
}

export interface ReadLogsOptions {
  /** Keep reading as the container writes, until it has exited (exit.json) or its monitor died. */
  follow?: boolean;
  /** Only entries at or after this time. */
  since?: Date;
  /** Stop following when aborted. */
  signal?: AbortSignal;
}

const FOLLOW_POLL_MS = 50;

/** `since` as the log's fixed-width timestamps (9 fraction digits), which then compare as strings. */
function logTimestamp(d: Date): string {
  return d.toISOString().replace(/Z$/, '000000Z');
}

/** The container's log entries, oldest first; with `follow`, waits for new ones until the container has exited. */
export async function* readLogs(stateDir: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
  const file = path.join(stateDir, 'container.log');
  const since = opts.since ? logTimestamp(opts.since) : undefined;
  let offset = 0;
  let pending = '';
  let finalPass = false;
  const decoder = new StringDecoder('utf8'); // a character may straddle two reads
  for (;;) {
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(file, 'r');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    if (fh) {
      try {
        const buf = Buffer.alloc(1 << 16);
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
          if (bytesRead === 0) break;
          offset += bytesRead;
          pending += decoder.write(buf.subarray(0, bytesRead));
          const lines = pending.split('\n');
          pending = lines.pop() ?? '';
          for (const line of lines) {
            if (!line) continue;
            let entry: LogEntry;
            try {
              entry = JSON.parse(line) as LogEntry;
            } catch {
              continue; // not ours: skip rather than fail the whole log
            }
            if (since && entry.time < since) continue;
            yield entry;
          }
        }
      } finally {
        await fh.close();
      }
    }
    if (!opts.follow || finalPass || opts.signal?.aborted) return;
    const state = await readContainerState(stateDir);
    // exit.json is written after the last output: one more pass reads everything
    if (state.status !== 'running') finalPass = true;
    else await sleep(FOLLOW_POLL_MS, undefined, opts.signal ? { signal: opts.signal } : undefined).catch(() => undefined);
  }
}
