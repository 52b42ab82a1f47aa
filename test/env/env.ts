// Brings up every real component the integration tests use and describes them in env vars.
// Also usable from benchmarks: startEnvironment(new Teardown()), then teardown.run().
import { existsSync, mkdtempSync, promises as fsp, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDockerd, stopEngine, type Engine } from './dockerd.js';
import { buildFixtures, importBase, type FixtureImage, type Fixtures } from './fixtures.js';
import { DOCKER_CLI, ensurePackages } from './install.js';
import { startRegistry } from './registry.js';
import { startS3 } from './s3.js';
import { Teardown } from './teardown.js';
import { elapsed, isAlive, pidsMentioning, removeTree, signal, waitForExit } from './util.js';

export const REGISTRY_USER = 'tsbak';
export const REGISTRY_PASSWORD = 's3cret-pass';
const BASE_PREFIX = 'tsbak-env-';
// Short and fixed rather than os.tmpdir(): unix socket paths must stay under 108 bytes.
const TMP = '/tmp';

/** What TSBAK_TEST_FIXTURES holds. */
export interface FixturesVar extends Fixtures {
  /** The base image imported on engine B too (same layer, another image ID). */
  baseOnB?: FixtureImage;
}

export interface StartResult {
  /** Variables for the test processes (TSBAK_TEST_*, AWS_*, DOCKER_HOST, DOCKER_CONFIG). */
  vars: Record<string, string>;
  /** Set when integration tests must skip; `fatal` says the skip is an error (root, tools there, start failed). */
  skip?: { reason: string; fatal: boolean };
}

function log(line: string): void {
  console.error(`test env: ${line}`);
}

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const result = await fn();
  log(`${what} ready in ${elapsed(t0)}`);
  return result;
}

/** Removes what an earlier run left behind when it was killed (its owner process is gone). */
export async function cleanupStale(): Promise<void> {
  const entries = await fsp.readdir(TMP).catch(() => [] as string[]);
  for (const entry of entries.filter((e) => e.startsWith(BASE_PREFIX))) {
    const dir = path.join(TMP, entry);
    if (!isStale(dir)) continue;
    log(`removing leftovers of an interrupted run in ${dir}`);
    const subs = await fsp.readdir(dir).catch(() => [] as string[]);
    const engines = subs.map((s) => path.join(dir, s)).filter((d) => existsSync(path.join(d, 'docker.pid')));
    await Promise.all(engines.map((d) => stopEngine(d)));
    // Registries: their command lines name their config file in this dir.
    for (const pid of await pidsMentioning(`${dir}/`)) {
      signal(pid, 'SIGTERM');
      if (!(await waitForExit(pid, 5_000))) signal(pid, 'SIGKILL');
    }
    await removeTree(dir);
  }
}

function isStale(dir: string): boolean {
  try {
    const owner = Number(readFileSync(path.join(dir, 'owner.pid'), 'utf8'));
    return !isAlive(owner);
  } catch {
    // No owner file: being created right now, or very old. Only the latter is ours to remove.
    try {
      return Date.now() - statSync(dir).mtimeMs > 3600_000;
    } catch {
      return false;
    }
  }
}

function createBaseDir(teardown: Teardown): string {
  const baseDir = mkdtempSync(path.join(TMP, BASE_PREFIX));
  writeFileSync(path.join(baseDir, 'owner.pid'), `${process.pid}\n`);
  log(`base dir ${baseDir}`);
  teardown.add(`base dir ${baseDir}`, () => removeTree(baseDir), { last: true });
  return baseDir;
}

/** Starts a component, registers its stop, and returns it. */
async function component<T extends { stop(): Promise<void> }>(teardown: Teardown, what: string, start: () => Promise<T>): Promise<T> {
  const c = await timed(what, start);
  teardown.add(what, () => c.stop());
  return c;
}

async function startEngines(
  teardown: Teardown,
  baseDir: string,
  abort: AbortSignal,
): Promise<{ a: Engine; b: Engine; fixtures: FixturesVar }> {
  const [a, b] = await allSettledOrThrow([
    component(teardown, 'engine tsbak-a', () => startDockerd('tsbak-a', baseDir)),
    component(teardown, 'engine tsbak-b', () => startDockerd('tsbak-b', baseDir)),
  ] as const);
  abort.throwIfAborted();
  const [fixtures, baseOnB] = await Promise.all([
    timed('fixtures on tsbak-a', () => buildFixtures(a.host)),
    timed('base image on tsbak-b', () => importBase(b.host)),
  ]);
  return { a, b, fixtures: { ...fixtures, baseOnB } };
}

/** Like Promise.all, but waits for every start to settle, then reports all failures at once. */
async function allSettledOrThrow<T extends readonly unknown[]>(promises: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as Error).message);
  if (errors.length > 0) throw new Error(errors.join('\n'));
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

function skipVars(reason: string, fatal: boolean): StartResult {
  return { vars: { TSBAK_TEST_ENV: '1', TSBAK_TEST_SKIP_INTEGRATION: reason }, skip: { reason, fatal } };
}

/**
 * Installs what is missing (as root), then starts two engines with fixtures, an open
 * and an htpasswd registry, and s3rver. Every started component is added to `teardown`,
 * also when a later step fails; failures become a skip reason, never an exception.
 * When `abort` fires, steps under way finish (so their processes get registered) and
 * no new step starts.
 */
export async function startEnvironment(teardown: Teardown, abort: AbortSignal = new AbortController().signal): Promise<StartResult> {
  const t0 = Date.now();
  const packages = await timed('Debian packages', ensurePackages);
  if (abort.aborted) return skipVars('interrupted', false);
  if (process.getuid?.() !== 0) {
    return skipVars(`not running as root: dockerd cannot start${packages.notice ? `; ${packages.notice}` : ''}`, false);
  }
  // As root the packages should have installed: a failure there is an error, not a skip.
  if (packages.notice) return skipVars(packages.notice, true);
  await cleanupStale().catch((e: Error) => log(`cleaning up earlier runs failed (continuing): ${e.message}`));
  if (abort.aborted) return skipVars('interrupted', false);
  const baseDir = createBaseDir(teardown);
  const dockerConfig = path.join(baseDir, 'docker-config');
  await fsp.mkdir(dockerConfig);
  // The CLI (ours and the tests') must not read or write root's ~/.docker.
  process.env.DOCKER_CONFIG = dockerConfig;
  try {
    const [engines, open, auth, s3] = await allSettledOrThrow([
      startEngines(teardown, baseDir, abort),
      component(teardown, 'registry', () => startRegistry(baseDir)),
      component(teardown, 'registry (htpasswd)', () =>
        startRegistry(baseDir, { htpasswd: { user: REGISTRY_USER, password: REGISTRY_PASSWORD } }),
      ),
      component(teardown, 's3rver', () => startS3(baseDir)),
    ] as const);
    log(`all components ready in ${elapsed(t0)}`);
    return {
      vars: {
        TSBAK_TEST_ENV: '1',
        // Every repository a test makes is encrypted with this password (test/repo-access.ts).
        TSBAK_PASSWORD: 'tsbak-test-password',
        TSBAK_SCRYPT_N: '4096',
        TSBAK_TEST_BASE_DIR: baseDir,
        TSBAK_TEST_DOCKER_HOST: engines.a.host,
        TSBAK_TEST_DOCKER_HOST_B: engines.b.host,
        TSBAK_TEST_DOCKER_CLI: DOCKER_CLI,
        TSBAK_TEST_REGISTRY: open.hostPort,
        TSBAK_TEST_REGISTRY_AUTH: auth.hostPort,
        TSBAK_TEST_REGISTRY_USER: REGISTRY_USER,
        TSBAK_TEST_REGISTRY_PASSWORD: REGISTRY_PASSWORD,
        TSBAK_TEST_S3_ENDPOINT: s3.endpoint,
        TSBAK_TEST_S3_BUCKET: s3.bucket,
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        AWS_REGION: s3.region,
        TSBAK_TEST_FIXTURES: JSON.stringify(engines.fixtures),
        // Anything in the tests that falls back to the default engine gets engine A, never the host's.
        DOCKER_HOST: engines.a.host,
        DOCKER_CONFIG: dockerConfig,
      },
    };
  } catch (e) {
    const reason = abort.aborted ? 'interrupted' : `the test environment failed to start: ${(e as Error).message}`;
    log(reason);
    return skipVars(reason.split('\n')[0]!, true);
  }
}

export { Teardown };
