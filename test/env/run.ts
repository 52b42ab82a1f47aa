// `npm test`: bring up the real components, run the node:test files against them, tear down.
//
//   node dist/test/env/run.js                        all unit and integration tests
//   node dist/test/env/run.js dist/test/x.test.js    only these files
//   node dist/test/env/run.js --test-name-pattern=…  options starting with -- go to node --test
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEnvironment } from './env.js';
import { Teardown } from './teardown.js';

const DIST_TEST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SUITES = ['unit', 'integration'];

async function findTests(dir: string): Promise<string[]> {
  const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) found.push(...(await findTests(full)));
    else if (e.isFile() && e.name.endsWith('.test.js')) found.push(full);
  }
  return found.sort();
}

async function selectFiles(args: string[]): Promise<string[]> {
  const chosen = args.filter((a) => !a.startsWith('--'));
  if (chosen.length > 0) return chosen.map((f) => path.resolve(f));
  const all: string[] = [];
  for (const suite of SUITES) all.push(...(await findTests(path.join(DIST_TEST, suite))));
  return all;
}

/** The environment for test processes: ours plus the components', without the caller's tsbak settings. */
function childEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // A developer's TSBAK_REPOSITORY or TSBAK_PASSWORD must not leak into tests.
    if (k.startsWith('TSBAK_') && !k.startsWith('TSBAK_TEST_')) continue;
    env[k] = v;
  }
  return { ...env, ...vars };
}

function runTests(files: string[], nodeArgs: string[], env: NodeJS.ProcessEnv, onSpawn: (c: ChildProcess) => void): Promise<number> {
  const args = ['--test', '--test-concurrency=1', '--test-reporter=spec', ...nodeArgs, ...files];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit', env });
    onSpawn(child);
    child.on('error', (e) => {
      console.error(`test env: cannot start node --test: ${e.message}`);
      resolve(1);
    });
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 + 15 : 1)));
  });
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const files = await selectFiles(argv);
  if (files.length === 0) {
    console.error(`test env: no *.test.js files under ${DIST_TEST}/{${SUITES.join(',')}}; did tsc run?`);
    return 1;
  }
  const teardown = new Teardown();
  const abort = new AbortController();
  let child: ChildProcess | undefined;
  let received: NodeJS.Signals | undefined;
  let signals = 0;
  // First signal: stop the tests, let start-up steps finish (so nothing is left running), tear down.
  const onSignal = (sig: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      received = sig;
      console.error(`test env: ${sig}: stopping, then tearing down`);
      abort.abort();
      child?.kill(sig);
    } else if (signals === 2) {
      console.error('test env: still tearing down; signal again to exit at once (the next run removes leftovers)');
    } else {
      process.exit(exitCodeFor(sig));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const started = await startEnvironment(teardown, abort.signal);
    if (received) return exitCodeFor(received);
    if (started.skip) console.error(`test env: integration tests will be skipped: ${started.skip.reason}`);
    const code = await runTests(files, argv.filter((a) => a.startsWith('--')), childEnv(started.vars), (c) => (child = c));
    if (received) return exitCodeFor(received);
    // A broken environment as root is a failure, not a quiet skip (unless asked for).
    if (started.skip?.fatal && process.env.TSBAK_TEST_ALLOW_SKIP !== '1') {
      console.error('test env: failing the run because the environment did not start (TSBAK_TEST_ALLOW_SKIP=1 allows it)');
      return code === 0 ? 1 : code;
    }
    return code;
  } finally {
    const t0 = Date.now();
    await teardown.run();
    console.error(`test env: torn down in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

function exitCodeFor(sig: NodeJS.Signals): number {
  return sig === 'SIGINT' ? 130 : 143;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`test env: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
