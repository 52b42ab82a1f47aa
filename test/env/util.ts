// Small process, file and network helpers shared by the test environment.
import { spawn, type SpawnOptions } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

export interface RunResult<T extends string | Buffer = string> {
  code: number;
  stdout: T;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  cwd?: string;
  /** Kill the command after this many milliseconds (default: no limit). */
  timeoutMs?: number;
}

/** Runs a command to completion; never rejects for a non-zero exit, only when it cannot start. */
export function run(cmd: string, args: string[], opts: RunOptions & { encoding: 'buffer' }): Promise<RunResult<Buffer>>;
export function run(cmd: string, args: string[], opts?: RunOptions & { encoding?: 'utf8' }): Promise<RunResult<string>>;
export function run(
  cmd: string,
  args: string[],
  opts: RunOptions & { encoding?: 'utf8' | 'buffer' } = {},
): Promise<RunResult<string> | RunResult<Buffer>> {
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] };
    if (opts.cwd !== undefined) spawnOpts.cwd = opts.cwd;
    const child = spawn(cmd, args, spawnOpts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    }
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stdout = Buffer.concat(out);
      const common = { code: code ?? (signal ? 128 : 1), stderr: Buffer.concat(err).toString('utf8') };
      resolve(opts.encoding === 'buffer' ? { ...common, stdout } : { ...common, stdout: stdout.toString('utf8') });
    });
    // A child that exits before reading all its input must not crash us with EPIPE.
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
  });
}

/** Like run(), but rejects with the command's stderr when it exits non-zero. */
export async function runOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (callers retry if they lose the race). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface HttpTarget {
  socketPath?: string;
  url?: string;
  path?: string;
}

/** GET returning the status code, or undefined when nothing answers. */
export function httpStatus(target: HttpTarget, timeoutMs = 2000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const opts: http.RequestOptions = { method: 'GET', timeout: timeoutMs };
    const req = target.socketPath
      ? http.request({ ...opts, socketPath: target.socketPath, path: target.path ?? '/' })
      : http.request(target.url!, opts);
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `ready` every `intervalMs` until it returns true. `failed` is checked
 * too and may return an error message to stop early (e.g. the process died).
 */
export async function waitUntil(
  what: string,
  ready: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; failed?: () => string | undefined; detail?: () => string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await ready()) return;
    const failure = opts.failed?.();
    const detail = () => (opts.detail ? `\n${opts.detail()}` : '');
    if (failure) throw new Error(`${what}: ${failure}${detail()}`);
    if (Date.now() > deadline) {
      throw new Error(`${what}: not ready after ${Math.round(opts.timeoutMs / 1000)} s${detail()}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

/** The last `lines` lines of a text file, or a note that it cannot be read. */
export function tailFile(file: string, lines = 20): string {
  try {
    const content = readFileSync(file, 'utf8').trimEnd();
    if (content === '') return `(${file} is empty)`;
    const text = content.split('\n');
    return `--- last ${Math.min(lines, text.length)} lines of ${file} ---\n${text.slice(-lines).join('\n')}`;
  } catch (e) {
    return `(cannot read ${file}: ${(e as Error).message})`;
  }
}

/** Whether `pid` runs; a zombie (exited, not yet reaped by its parent or init) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Waits up to `timeoutMs` for `pid` to disappear; returns whether it did. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Pids of processes whose command line mentions `needle` (never our own). */
export async function pidsMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(needle)) pids.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map(unescape)
    .filter((m) => m === dir || m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts everything below `dir` (lazily when busy) and removes it. */
export async function removeTree(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) {
    const r = await run('umount', [m]);
    if (r.code !== 0) await run('umount', ['-l', m]);
  }
  await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

export function elapsed(startMs: number): string {
  return `${((Date.now() - startMs) / 1000).toFixed(1)} s`;
}

/** Wraps an async function so that it runs once; later calls get the same promise. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
