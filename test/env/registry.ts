// Runs Debian's distribution registry (`docker-registry`) on loopback, optionally with htpasswd auth.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { REGISTRY } from './install.js';
import { freePort, httpStatus, isAlive, once, removeTree, signal, tailFile, waitForExit, waitUntil } from './util.js';

export interface RegistryOptions {
  htpasswd?: { user: string; password: string };
  /** Bearer-token auth against a token service (the distribution registry's `auth.token`). */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

export interface Registry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, as image references name it. */
  hostPort: string;
  dir: string;
  logFile: string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;

function configYaml(dir: string, port: number, htpasswdFile?: string, token?: RegistryOptions['token']): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${dir}/storage`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: tsbak-test-${port}`,
  ];
  if (htpasswdFile) {
    lines.push('auth:', '  htpasswd:', '    realm: tsbak-test', `    path: ${htpasswdFile}`);
  } else if (token) {
    lines.push('auth:', '  token:', `    realm: ${token.realm}`, `    service: ${token.service}`, `    issuer: ${token.issuer}`, `    rootcertbundle: ${token.rootCertBundle}`);
  }
  return `${lines.join('\n')}\n`;
}

interface Running {
  pid: number;
  exited: () => string | undefined;
}

function launch(dir: string, configFile: string, logFile: string): Running {
  const log = openSync(logFile, 'a');
  const child = spawn(REGISTRY, ['serve', configFile], { detached: true, stdio: ['ignore', log, log], cwd: dir });
  closeSync(log);
  let error: string | undefined;
  child.on('error', (e) => (error = e.message));
  return {
    pid: child.pid ?? -1,
    exited: () => error ?? (child.exitCode !== null ? `exited with code ${child.exitCode}` : undefined),
  };
}

async function stopProcess(pid: number): Promise<void> {
  if (pid <= 0 || !isAlive(pid)) return;
  signal(pid, 'SIGTERM');
  if (!(await waitForExit(pid, 10_000))) {
    signal(pid, 'SIGKILL');
    await waitForExit(pid, 5_000);
  }
}

/**
 * Starts a registry on 127.0.0.1 with a free port, its storage in a new directory
 * under `baseDir`. Resolves once `/v2/` answers (200, or 401 with auth).
 */
export async function startRegistry(baseDir: string, opts: RegistryOptions = {}): Promise<Registry> {
  const dir = mkdtempSync(path.join(baseDir, opts.htpasswd ? 'registry-auth-' : 'registry-'));
  mkdirSync(path.join(dir, 'storage'));
  let htpasswdFile: string | undefined;
  if (opts.htpasswd) {
    // The registry accepts only bcrypt entries.
    htpasswdFile = path.join(dir, 'htpasswd');
    writeFileSync(htpasswdFile, `${opts.htpasswd.user}:${bcrypt.hashSync(opts.htpasswd.password, 10)}\n`);
  }
  const logFile = path.join(dir, 'registry.log');
  const wanted = opts.htpasswd || opts.token ? 401 : 200;

  // The port can be taken between freePort() and the registry's bind: then try another.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const configFile = path.join(dir, 'config.yml');
    writeFileSync(configFile, configYaml(dir, port, htpasswdFile, opts.token));
    const proc = launch(dir, configFile, logFile);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntil(`registry on ${url} did not start`, async () => (await httpStatus({ url: `${url}/v2/` })) === wanted, {
        timeoutMs: START_TIMEOUT_MS,
        failed: proc.exited,
        detail: () => tailFile(logFile, 15),
      });
      return {
        url,
        hostPort: `127.0.0.1:${port}`,
        dir,
        logFile,
        stop: once(async () => {
          await stopProcess(proc.pid);
          await removeTree(dir);
        }),
      };
    } catch (e) {
      lastError = e;
      await stopProcess(proc.pid);
    }
  }
  await removeTree(dir);
  throw lastError;
}
