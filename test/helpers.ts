// Helpers for integration tests. The components come from test/env/run.ts (`npm test`),
// which describes them in TSBAK_TEST_* variables.
import './repo-access.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FixturesVar } from './env/env.js';

export type { FixturesVar } from './env/env.js';
export type { FixtureImage } from './env/fixtures.js';

export interface ExecResult<T extends string | Buffer = string> {
  code: number;
  stdout: T;
  stderr: string;
}

// dist/test/helpers.js → dist/src/cli/main.js
const TSBAK_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');

/** false when integration tests can run, else why not; pass it as `test(name, { skip: integrationSkip() }, …)`. */
export function integrationSkip(): false | string {
  if (process.env.TSBAK_TEST_SKIP_INTEGRATION) return process.env.TSBAK_TEST_SKIP_INTEGRATION;
  if (process.env.TSBAK_TEST_ENV !== '1') return 'no test environment: run through `npm test` (node dist/test/env/run.js)';
  return false;
}

function requireVar(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through \`npm test\` (node dist/test/env/run.js)`);
  return v;
}

/** DOCKER_HOST of engine A (`unix:///…/docker.sock`). */
export function engineA(): string {
  return requireVar('TSBAK_TEST_DOCKER_HOST');
}

/** DOCKER_HOST of engine B, the second host in migration tests. */
export function engineB(): string {
  return requireVar('TSBAK_TEST_DOCKER_HOST_B');
}

export function registry(): string {
  return requireVar('TSBAK_TEST_REGISTRY');
}

export function authRegistry(): { hostPort: string; user: string; password: string } {
  return {
    hostPort: requireVar('TSBAK_TEST_REGISTRY_AUTH'),
    user: requireVar('TSBAK_TEST_REGISTRY_USER'),
    password: requireVar('TSBAK_TEST_REGISTRY_PASSWORD'),
  };
}

export function s3(): { endpoint: string; bucket: string } {
  return { endpoint: requireVar('TSBAK_TEST_S3_ENDPOINT'), bucket: requireVar('TSBAK_TEST_S3_BUCKET') };
}

export function fixtures(): FixturesVar {
  return JSON.parse(requireVar('TSBAK_TEST_FIXTURES')) as FixturesVar;
}

interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  input?: Buffer | string;
  cwd?: string;
  encoding?: 'utf8' | 'buffer';
  /** Kill the process after this long (default 5 minutes) so a hang fails the test instead of the run. */
  timeoutMs?: number;
}

function exec(cmd: string, args: string[], opts: ExecOptions): Promise<ExecResult<string | Buffer>> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({
        code: code ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : 1),
        stdout: opts.encoding === 'buffer' ? stdout : stdout.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => {}); // the command may exit without reading its input
    child.stdin.end(opts.input ?? '');
  });
}

export interface DockerCliOptions {
  /** DOCKER_HOST; engine A by default. */
  host?: string;
  input?: Buffer | string;
  encoding?: 'utf8' | 'buffer';
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs Debian's docker CLI (TSBAK_TEST_DOCKER_CLI, /usr/bin/docker) against an engine. */
export function dockerCli(args: string[], opts: DockerCliOptions & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>;
export function dockerCli(args: string[], opts?: DockerCliOptions & { encoding?: 'utf8' }): Promise<ExecResult<string>>;
export function dockerCli(args: string[], opts: DockerCliOptions = {}): Promise<ExecResult<string | Buffer>> {
  const cli = process.env.TSBAK_TEST_DOCKER_CLI ?? '/usr/bin/docker';
  const env = { ...opts.env, DOCKER_HOST: opts.host ?? engineA(), DOCKER_BUILDKIT: '0' };
  return exec(cli, args, { ...opts, env });
}

export interface TsbakOptions {
  env?: NodeJS.ProcessEnv;
  input?: Buffer | string;
  cwd?: string;
  encoding?: 'utf8' | 'buffer';
  timeoutMs?: number;
}

/** Runs the compiled CLI (dist/src/cli/main.js) with this Node binary. */
export function runTsbak(args: string[], opts: TsbakOptions & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>;
export function runTsbak(args: string[], opts?: TsbakOptions & { encoding?: 'utf8' }): Promise<ExecResult<string>>;
export function runTsbak(args: string[], opts: TsbakOptions = {}): Promise<ExecResult<string | Buffer>> {
  return exec(process.execPath, [TSBAK_MAIN, ...args], opts);
}

const tmpDirs: string[] = [];
process.on('exit', () => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** A new directory under the system temp dir, removed when the test process exits. */
export function tmpDir(prefix = 'tsbak-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}
