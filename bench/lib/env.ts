// The benchmark's own environment: one isolated dockerd (test/env's), in a temp dir
// removed at the end, and the tools the scenarios compare against.
import { mkdtempSync, promises as fsp, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDockerd, stopEngine, type Engine } from '../../test/env/dockerd.js';
import { DOCKER_CLI, ensurePackages, executable } from '../../test/env/install.js';
import { isAlive, once, removeTree, run } from '../../test/env/util.js';
import { GNU_TIME } from './measure.js';

// Short and fixed: the engine's unix socket path must stay under 108 bytes.
const TMP = '/tmp';
const PREFIX = 'tsbak-bench-';

export interface BenchEnv {
  engine: Engine;
  baseDir: string;
  /** For every command the scenarios run. */
  env: NodeJS.ProcessEnv;
  /** Stops the engine and removes the work dir; idempotent. */
  stop(): Promise<void>;
}


/** GNU time measures peak RSS; Debian's `time` package, installed when missing (as root). */
async function ensureGnuTime(log: (line: string) => void): Promise<void> {
  if (executable(GNU_TIME)) return;
  log(`installing Debian package time (for ${GNU_TIME})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const r = await run('apt-get', ['install', '-y', 'time'], { env });
  if (r.code !== 0 || !executable(GNU_TIME)) {
    throw new Error(`${GNU_TIME} is missing and apt-get install time failed: ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
  }
}

/** Removes what a killed benchmark left behind (its owner process is gone). */
async function cleanupStale(log: (line: string) => void): Promise<void> {
  const entries = await fsp.readdir(TMP).catch(() => [] as string[]);
  for (const entry of entries.filter((e) => e.startsWith(PREFIX))) {
    const dir = path.join(TMP, entry);
    let stale: boolean;
    try {
      stale = !isAlive(Number(readFileSync(path.join(dir, 'owner.pid'), 'utf8')));
    } catch {
      stale = Date.now() - statSync(dir).mtimeMs > 3600_000;
    }
    if (!stale) continue;
    log(`removing leftovers of an interrupted benchmark in ${dir}`);
    await stopEngine(path.join(dir, 'bench'));
    await removeTree(dir);
  }
}

/** Environment for child commands: the caller's, minus its tsbak settings, plus ours. */
function childEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('TSBAK_') || k === 'DOCKER_HOST' || k === 'DOCKER_CONTEXT') continue;
    env[k] = v;
  }
  return { ...env, ...vars };
}

/**
 * Checks the tools (installing missing Debian packages as root), then starts one
 * isolated dockerd. The caller must call stop() in every exit path.
 */
export async function startBenchEnv(log: (line: string) => void): Promise<BenchEnv> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark starts its own dockerd and must run as root');
  const packages = await ensurePackages();
  const needed = ['dockerd', 'containerd', 'docker', 'zstd', 'busybox'] as const;
  const missing = needed.filter((t) => !packages.available[t]);
  if (missing.length > 0) throw new Error(`missing tools ${missing.join(', ')}: ${packages.notice ?? 'apt-get install them'}`);
  await ensureGnuTime(log);
  await cleanupStale(log);

  const baseDir = mkdtempSync(path.join(TMP, PREFIX));
  writeFileSync(path.join(baseDir, 'owner.pid'), `${process.pid}\n`);
  const dockerConfig = path.join(baseDir, 'docker-config');
  await fsp.mkdir(dockerConfig);
  // The docker CLI (ours and test/env's helpers) must not read or write root's ~/.docker.
  process.env.DOCKER_CONFIG = dockerConfig;
  let engine: Engine | undefined;
  const stop = once(async () => {
    await engine?.stop();
    await removeTree(baseDir);
  });
  try {
    engine = await startDockerd('bench', baseDir);
  } catch (e) {
    await stop();
    throw e;
  }
  log(`engine ${engine.host} (pid ${engine.pid}), work dir ${baseDir}`);
  const env = childEnv({ DOCKER_HOST: engine.host, DOCKER_CONFIG: dockerConfig, DOCKER_BUILDKIT: '0' });
  return { engine, baseDir, env, stop };
}

/** `docker …` argv with Debian's CLI. */
export function dockerArgv(...args: string[]): string[] {
  return [DOCKER_CLI, ...args];
}
