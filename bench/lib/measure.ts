// Runs one command and measures it: wall time, peak RSS and CPU time.
//
// Peak RSS comes from GNU time (`/usr/bin/time -f …`), i.e. the kernel's ru_maxrss
// that wait4() returns when the child exits. It is the high-water mark the kernel
// kept for the process's whole life, covering every thread (zstd-napi's compression
// workers share the process's memory), and for a pipeline (`sh -c "a | b"`) it is
// the largest of the processes. Polling /proc/<pid>/status VmHWM instead gives the
// same number only if the last poll lands after the peak and before the exit: a peak
// reached in the last poll interval is missed, and /proc/<pid> is gone (or a zombie
// without VmHWM) by the time we could read it after exit. Hence GNU time.
import { spawn } from 'node:child_process';
import { openSync, closeSync, promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export const GNU_TIME = '/usr/bin/time';

export interface Measurement {
  wallMs: number;
  /** Peak resident set size of the process (or the largest process of a pipeline), KiB. */
  peakRssKiB: number;
  /** User + system CPU time of the process and its children, ms. */
  cpuMs: number;
  /** CPU time the Docker engine (dockerd) spent meanwhile, ms; undefined when not watched. */
  engineCpuMs?: number;
}

export interface MeasureOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where stdout goes: a file path, or discarded (default). */
  stdoutFile?: string;
  /** A pid whose CPU time to count as the engine's (dockerd does the work of `docker save`). */
  enginePid?: number;
  /** Kill the command after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Scratch directory for GNU time's report. */
  scratch: string;
}

const CLK_TCK = 100; // USER_HZ on Linux

/** utime + stime of a process and its waited-for children, in ms (from /proc/<pid>/stat). */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime/stime/cutime/cstime are fields 14..17.
    const ticks = [11, 12, 13, 14].reduce((n, i) => n + Number(fields[i]), 0);
    return (ticks * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

let counter = 0;

/**
 * Runs `argv` under GNU time and resolves its measurement; rejects when it exits
 * non-zero (with the tail of its stderr), so a broken command never becomes a figure.
 */
export async function measure(argv: string[], opts: MeasureOptions): Promise<Measurement> {
  const report = path.join(opts.scratch, `time-${process.pid}-${counter++}.txt`);
  const stdout = opts.stdoutFile ? openSync(opts.stdoutFile, 'w') : 'ignore';
  const engineBefore = opts.enginePid ? processCpuMs(opts.enginePid) : undefined;
  const t0 = performance.now();
  const stderrChunks: Buffer[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(GNU_TIME, ['-f', '%M %U %S', '-o', report, ...argv], {
      env: opts.env,
      cwd: opts.cwd,
      stdio: ['ignore', stdout, 'pipe'],
    });
    child.stderr!.on('data', (b: Buffer) => {
      stderrChunks.push(b);
      if (stderrChunks.length > 64) stderrChunks.splice(0, stderrChunks.length - 64);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${GNU_TIME}: ${e.message} (install Debian's "time" package)`));
    });
    child.on('close', (c, sig) => {
      clearTimeout(timer);
      resolve(c ?? (sig ? 128 : 1));
    });
  });
  const wallMs = performance.now() - t0;
  const engineAfter = opts.enginePid ? processCpuMs(opts.enginePid) : undefined;
  if (typeof stdout === 'number') closeSync(stdout);
  const text = await fsp.readFile(report, 'utf8').catch(() => '');
  await fsp.rm(report, { force: true });
  if (code !== 0) {
    const err = Buffer.concat(stderrChunks).toString('utf8').trim().split('\n').slice(-8).join('\n');
    throw new Error(`${argv.join(' ')} exited ${code}:\n${err}`);
  }
  // GNU time appends "Command exited with non-zero status" lines only on failure; the last line is ours.
  const last = text.trim().split('\n').pop() ?? '';
  const [rss, user, sys] = last.split(' ').map(Number);
  if (rss === undefined || !Number.isFinite(rss) || user === undefined || sys === undefined) {
    throw new Error(`cannot read GNU time's report for ${argv.join(' ')}: "${text.trim()}"`);
  }
  const m: Measurement = { wallMs, peakRssKiB: rss, cpuMs: (user + sys) * 1000 };
  if (engineBefore !== undefined && engineAfter !== undefined) m.engineCpuMs = engineAfter - engineBefore;
  return m;
}
