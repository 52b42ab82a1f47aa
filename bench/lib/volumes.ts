// Engine volumes filled from the host, restic as a peer, and small helpers the volume
// scenarios share.
import { promises as fsp } from 'node:fs';
import { docker, dockerOk } from '../../test/env/dockerd.js';
import { run } from '../../test/env/util.js';
import { measure, type Measurement } from './measure.js';
import { removePath } from './files.js';

export const RESTIC = '/usr/bin/restic';

/** Creates a local volume on the engine and returns its directory on the host (its Mountpoint). */
export async function createVolume(host: string, name: string): Promise<string> {
  await docker(host, ['volume', 'rm', '-f', name]);
  await dockerOk(host, ['volume', 'create', name]);
  return (await dockerOk(host, ['volume', 'inspect', '--format', '{{.Mountpoint}}', name])).trim();
}

export async function removeVolume(host: string, name: string): Promise<void> {
  await docker(host, ['volume', 'rm', '-f', name]);
}

/** `docker rm -f`, ignoring a container that is already gone. */
export async function removeContainer(host: string, name: string): Promise<void> {
  await docker(host, ['rm', '-f', name]);
}

/** `du -sb`: apparent bytes of everything under `dir`, as the brief asks (directories count too). */
export async function duBytes(dir: string): Promise<number> {
  const r = await run('du', ['-sb', dir]);
  if (r.code !== 0) throw new Error(`du -sb ${dir} exited ${r.code}: ${r.stderr.trim()}`);
  return Number(r.stdout.split(/\s/)[0]);
}

/** The single JSON document a `--json` command wrote to `file`. */
export async function readJson<T>(file: string): Promise<T> {
  const text = await fsp.readFile(file, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${file} does not hold one JSON document: ${text.slice(0, 300)}`);
  }
}

/** What `restic backup --json` reports last. */
export interface ResticSummary {
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  data_added: number;
  total_bytes_processed: number;
  snapshot_id: string;
}

/**
 * Debian's restic with a local repository, its password in RESTIC_PASSWORD and its cache
 * next to the repository (`<repo>.cache`), so every repository starts with its own cache
 * and removing both leaves nothing behind. restic ≥ 0.14 creates format 2 repositories:
 * compressed (zstd, "auto") and, always, encrypted (AES-256-CTR + Poly1305).
 */
export class Restic {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly scratch: string,
  ) {}

  private envFor(repo: string): NodeJS.ProcessEnv {
    return { ...this.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: 'tsbak-bench', RESTIC_CACHE_DIR: `${repo}.cache` };
  }

  async version(): Promise<string> {
    const r = await run(RESTIC, ['version']);
    return r.code === 0 ? r.stdout.trim() : 'unknown';
  }

  async init(repo: string): Promise<void> {
    await this.remove(repo);
    const r = await run(RESTIC, ['init'], { env: this.envFor(repo) });
    if (r.code !== 0) throw new Error(`restic init ${repo} exited ${r.code}: ${r.stderr.trim()}`);
  }

  async remove(repo: string): Promise<void> {
    await removePath(repo);
    await removePath(`${repo}.cache`);
  }

  /** `restic backup DIR --json` under GNU time; its output goes to `stdoutFile` (see summary()). */
  backup(repo: string, dir: string, stdoutFile: string): Promise<Measurement> {
    return measure([RESTIC, 'backup', dir, '--json'], { env: this.envFor(repo), scratch: this.scratch, stdoutFile });
  }

  /** Untimed `restic backup DIR`. */
  async backupOk(repo: string, dir: string): Promise<void> {
    const r = await run(RESTIC, ['backup', '-q', dir], { env: this.envFor(repo), timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`restic backup ${dir} exited ${r.code}: ${r.stderr.trim()}`);
  }

  /** The summary line of a `restic backup --json` output file. */
  static async summary(file: string): Promise<ResticSummary> {
    const lines = (await fsp.readFile(file, 'utf8')).trim().split('\n');
    for (const line of lines.reverse()) {
      if (!line.includes('"summary"')) continue;
      const doc = JSON.parse(line) as ResticSummary & { message_type: string };
      if (doc.message_type === 'summary') return doc;
    }
    throw new Error(`restic backup wrote no summary to ${file}: ${lines.slice(-3).join(' / ')}`);
  }
}
