// runc as the oracle: the same bundle run by Debian's runc, with its own state root.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const RUNC = process.env.TSBAK_TEST_RUNC ?? '/usr/sbin/runc';

export function runcAvailable(): boolean {
  return existsSync(RUNC);
}

export interface RuncResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `runc --root ROOT ARGS…` with stdin on /dev/null; stdout and stderr collected. */
export function runc(root: string, args: string[], timeoutMs = 60_000): Promise<RuncResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(RUNC, ['--root', root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/**
 * `runc run -d`: returns once the container's process is started. Its stdio is /dev/null (a pipe
 * would stay open as long as the container runs); runc's own errors go to `logFile`.
 */
export function runcRunDetached(root: string, bundle: string, id: string, logFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(RUNC, ['--root', root, '--log', logFile, 'run', '-d', '-b', bundle, id], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}
