/** Before/after commands of a schedule: /bin/sh -c, bounded in time, output kept short. */
import { spawn } from 'node:child_process';
import { TsbakError } from '../errors.js';

export class HookError extends TsbakError {}

const KEEP = 4096;

export function runHook(command: string, options: { env: Record<string, string>; timeoutMs: number; signal?: AbortSignal }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-KEEP);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let why: string | undefined;
    const kill = (reason: string) => {
      why = reason;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => kill(`timed out after ${options.timeoutMs / 1000} s (hooks.timeout)`), options.timeoutMs);
    const onAbort = () => kill('stopped: the daemon is stopping');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new HookError(`hook \`${command}\` could not start: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const tail = output.trim() ? `: ${output.trim().split('\n').slice(-3).join(' | ')}` : '';
      if (why) reject(new HookError(`hook \`${command}\` ${why}${tail}`));
      else if (code !== 0) reject(new HookError(`hook \`${command}\` exited ${code ?? signal}${tail}`));
      else resolve(output);
    });
  });
}
