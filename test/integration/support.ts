import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { engineA, runTsbak, tmpDir, type ExecResult } from '../helpers.js';

/** A new initialised repository; returns its path. */
export async function newRepo(): Promise<string> {
  const repo = join(tmpDir('tsbak-repo-'), 'repo');
  const r = await runTsbak(['init', '--repo', repo]);
  assert.equal(r.code, 0, r.stderr);
  return repo;
}

/** Run tsbak against a repository and engine A, expecting success and a JSON document. */
export async function tsbakJson<T>(args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const r = await runTsbak([...args, '--json'], { env: { DOCKER_HOST: engineA(), ...env } });
  assert.equal(r.code, 0, `tsbak ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export function tsbak(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ExecResult> {
  return runTsbak(args, { env: { DOCKER_HOST: engineA(), ...env } });
}

/** Files and their total size under a directory (recursive). */
export function treeStats(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        files++;
        bytes += statSync(p).size;
      }
    }
  };
  try {
    walk(dir);
  } catch {
    // missing directory: zero
  }
  return { files, bytes };
}
