// Starts and stops isolated Docker engines (Debian's dockerd with its own managed containerd).
import { spawn } from 'node:child_process';
import { closeSync, openSync, promises as fsp, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DOCKER_CLI, DOCKERD } from './install.js';
import {
  httpStatus,
  isAlive,
  once,
  pidsMentioning,
  removeTree,
  run,
  signal,
  tailFile,
  waitForExit,
  waitUntil,
  type RunOptions,
  type RunResult,
} from './util.js';

export interface Engine {
  name: string;
  /** DOCKER_HOST value, `unix:///…/docker.sock`. */
  host: string;
  socketPath: string;
  dataRoot: string;
  execRoot: string;
  logFile: string;
  pid: number;
  /** Stops the daemon, its containerd and containers, and removes all its files. Idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;
// Only Debian's directories: a newer containerd or runc elsewhere on PATH must not be picked up.
const DAEMON_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

function dockerdArgs(dir: string, name: string): string[] {
  return [
    '--storage-driver=vfs',
    '--iptables=false',
    '--ip-masq=false',
    '--bridge=none',
    `--data-root=${dir}/data`,
    `--exec-root=${dir}/exec`,
    `--host=unix://${dir}/docker.sock`,
    `--pidfile=${dir}/docker.pid`,
    // An empty config of our own, so the host's /etc/docker/daemon.json does not apply.
    `--config-file=${dir}/daemon.json`,
    `--containerd-namespace=${name}`,
    `--containerd-plugins-namespace=${name}-plugins`,
    // Containers whose PID 1 ignores SIGTERM (busybox sleep) would otherwise delay stop by 15 s.
    '--shutdown-timeout=2',
  ];
}

/**
 * Starts a dockerd named `name` whose files all live in `baseDir/name`.
 * Resolves once `GET /_ping` answers; rejects after 60 s with the log's tail.
 */
export async function startDockerd(name: string, baseDir: string): Promise<Engine> {
  const dir = path.join(baseDir, name);
  await fsp.mkdir(path.join(dir, 'data'), { recursive: true });
  await fsp.mkdir(path.join(dir, 'exec'), { recursive: true });
  writeFileSync(path.join(dir, 'daemon.json'), '{}\n');
  const logFile = path.join(dir, 'dockerd.log');
  const socketPath = path.join(dir, 'docker.sock');
  if (socketPath.length > 100) throw new Error(`socket path too long for a unix socket: ${socketPath}`);

  const log = openSync(logFile, 'a');
  const child = spawn(DOCKERD, dockerdArgs(dir, name), {
    detached: true, // its own process group: a Ctrl-C reaches us, and we stop it in order
    stdio: ['ignore', log, log],
    env: { PATH: DAEMON_PATH, HOME: dir },
  });
  closeSync(log);
  let spawnError: string | undefined;
  child.on('error', (e) => (spawnError = e.message));
  const pid = child.pid ?? -1;

  const engine: Engine = {
    name,
    host: `unix://${socketPath}`,
    socketPath,
    dataRoot: path.join(dir, 'data'),
    execRoot: path.join(dir, 'exec'),
    logFile,
    pid,
    stop: once(() => stopEngine(dir, pid)),
  };
  try {
    await waitUntil(`dockerd ${name} did not start`, async () => (await httpStatus({ socketPath, path: '/_ping' })) === 200, {
      timeoutMs: START_TIMEOUT_MS,
      failed: () => spawnError ?? (child.exitCode !== null ? `exited with code ${child.exitCode}` : undefined),
      detail: () => tailFile(logFile, 25),
    });
  } catch (e) {
    await engine.stop();
    throw e;
  }
  return engine;
}

/** Thaws, and optionally kills, the processes of every container this engine created. */
async function releaseContainers(dataRoot: string, kill: boolean): Promise<void> {
  const ids = await fsp.readdir(path.join(dataRoot, 'containers')).catch(() => [] as string[]);
  if (ids.length === 0) return;
  const hierarchies = ['/sys/fs/cgroup', ...(await fsp.readdir('/sys/fs/cgroup').catch(() => [])).map((h) => `/sys/fs/cgroup/${h}`)];
  for (const id of ids) {
    for (const h of hierarchies) {
      const cg = `${h}/docker/${id}`;
      // A container left frozen by a failed test would block dockerd's shutdown forever.
      await fsp.writeFile(`${cg}/freezer.state`, 'THAWED').catch(() => {});
      await fsp.writeFile(`${cg}/cgroup.freeze`, '0').catch(() => {});
      if (!kill) continue;
      const procs = await fsp.readFile(`${cg}/cgroup.procs`, 'utf8').catch(() => '');
      for (const p of procs.split('\n').filter(Boolean)) signal(Number(p), 'SIGKILL');
    }
  }
}

function readPid(file: string): number {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : -1;
  } catch {
    return -1;
  }
}

/**
 * Stops the engine whose files are in `dir` (as startDockerd laid them out) and removes
 * them; `pid` defaults to the pidfile's. Also used to clean up after a killed test run.
 */
export async function stopEngine(dir: string, pid?: number): Promise<void> {
  // A stale pidfile's pid may belong to another process by now: only trust it if its command line names our dir.
  pid ??= readPid(path.join(dir, 'docker.pid'));
  if (pid > 0 && !(await pidsMentioning(`${dir}/`)).includes(pid)) pid = -1;
  const dataRoot = path.join(dir, 'data');
  // Killing the containers first saves dockerd's 10 s grace period per container on shutdown.
  await releaseContainers(dataRoot, true);
  if (pid > 0 && isAlive(pid)) {
    signal(pid, 'SIGTERM');
    if (!(await waitForExit(pid, 30_000))) {
      console.error(`test env: dockerd in ${dir} ignored SIGTERM for 30 s; killing it`);
      signal(pid, 'SIGKILL');
      await waitForExit(pid, 5_000);
    }
  }
  // Whatever outlived dockerd: containers, its containerd and the shims (their command lines name our dir).
  await releaseContainers(dataRoot, true);
  const mine = `${dir}/`;
  for (const p of await pidsMentioning(mine)) signal(p, 'SIGTERM');
  for (const p of await pidsMentioning(mine)) {
    if (!(await waitForExit(p, 5_000))) signal(p, 'SIGKILL');
  }
  await removeTree(dir);
}

export interface DockerOptions extends RunOptions {
  encoding?: 'utf8' | 'buffer';
}

/** Runs Debian's docker CLI (never the one on PATH) against `host`. */
export function docker(host: string, args: string[], opts: DockerOptions & { encoding: 'buffer' }): Promise<RunResult<Buffer>>;
export function docker(host: string, args: string[], opts?: DockerOptions & { encoding?: 'utf8' }): Promise<RunResult<string>>;
export function docker(host: string, args: string[], opts: DockerOptions = {}): Promise<RunResult<string> | RunResult<Buffer>> {
  const env = { ...process.env, ...opts.env, DOCKER_HOST: host, DOCKER_BUILDKIT: '0' };
  const runOpts = { ...opts, env };
  return opts.encoding === 'buffer' ? run(DOCKER_CLI, args, { ...runOpts, encoding: 'buffer' }) : run(DOCKER_CLI, args, { ...runOpts, encoding: 'utf8' });
}

/** Like docker(), but rejects with stderr on a non-zero exit; resolves stdout. */
export async function dockerOk(host: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await docker(host, args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} (on ${host}) exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}
