/**
 * The freeze watchdog process (spawned by watchdog.ts, detached in its own
 * process group so a Ctrl-C or a kill of tsbak's group does not reach it).
 *
 * Protocol on stdin: the first line is the JSON config; "start" means the
 * parent is about to freeze (the deadline counts from here); "exit" means the
 * parent thawed cleanly. End of input without "exit" means the parent died:
 * thaw. The deadline thaws too. It answers "ready" on stdout once armed.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { thawFile } from './control.js';

export interface WatchdogConfig {
  /** The tsbak process to watch. */
  ppid: number;
  /** Control files (cgroup.freeze / freezer.state) to thaw. */
  files: string[];
  /** The parent's state file: removed after a thaw on the parent's behalf; if the parent removed it, it already thawed. */
  stateFile: string | null;
  /** Thaw when this many ms have passed since "start", whatever the parent does. */
  deadlineMs: number;
}

const PARENT_POLL_MS = 100;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} tsbak watchdog ${process.pid}: ${line}\n`);
}

function thawAll(config: WatchdogConfig, why: string): void {
  for (const file of config.files) {
    try {
      log(`${why}: ${thawFile(file) ? 'thawed' : 'gone'} ${file}`);
    } catch (err) {
      log(`${why}: cannot thaw ${file}: ${(err as Error).message}`);
    }
  }
}

let config: WatchdogConfig | undefined;
let done = false;
let started = false;
let input = '';

function finish(kind: 'clean' | 'parent-died' | 'deadline'): void {
  if (done) return;
  done = true;
  if (config) {
    if (kind === 'parent-died' && config.stateFile && !existsSync(config.stateFile)) {
      // A parent that thawed on its way out removed its state file first: nothing left to do.
      process.exit(0);
    }
    if (kind !== 'clean') {
      thawAll(
        config,
        kind === 'deadline' ? `the freeze passed its deadline of ${config.deadlineMs} ms` : `tsbak process ${config.ppid} died while containers were frozen`,
      );
      // Nothing it lists is frozen any more.
      if (config.stateFile) {
        try {
          unlinkSync(config.stateFile);
        } catch {
          // already gone
        }
      }
    }
  }
  process.exit(0);
}

function onLine(line: string): void {
  if (!config) {
    config = JSON.parse(line) as WatchdogConfig;
    const c = config;
    setInterval(() => {
      let alive = process.ppid === c.ppid;
      if (alive) {
        try {
          process.kill(c.ppid, 0);
        } catch {
          alive = false;
        }
      }
      if (!alive) finish('parent-died');
    }, PARENT_POLL_MS);
    process.stdout.write('ready\n');
    return;
  }
  const command = line.trim();
  if (command === 'start' && !started) {
    started = true;
    setTimeout(() => finish('deadline'), config.deadlineMs);
  } else if (command === 'exit') finish('clean');
}

// Our own group: a terminal's SIGINT/SIGHUP reaches tsbak, not us; should one arrive anyway, act as if the parent died.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => finish('parent-died'));
process.stdout.on('error', () => {}); // the parent stops reading after "ready"

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  input += chunk;
  let nl: number;
  while ((nl = input.indexOf('\n')) >= 0) {
    const line = input.slice(0, nl);
    input = input.slice(nl + 1);
    try {
      onLine(line);
    } catch (err) {
      log(`bad input: ${(err as Error).message}`);
      process.exit(2);
    }
  }
});
process.stdin.on('end', () => finish('parent-died'));
process.stdin.on('error', () => finish('parent-died'));
