// `npm run bench`: start an isolated dockerd, run tsbak and its peers side by side,
// print medians and ratios against the goals, write bench/results/latest.json, tear down.
//
//   node dist/bench/run.js                    every scenario
//   node dist/bench/run.js images             only these scenarios
//   options: --reps N (timed repetitions, default 5), --size-mb N (big fixture image, default 320),
//            --rss-size-mb N (a second image measured once for peak RSS; default twice --size-mb, 0 skips),
//            --volume-mb N, --small-files N, --small-mb N (the volumes scenario's big file, default 300 MiB,
//            and its small text files, default 2000 totalling 100 MiB), --freeze-mb N[,N…] (the freeze
//            scenario's volumes, default 100,1024), --freeze-files N[,N…] (small files in each, default 100;
//            every size is run with every count),
//            --cpu-prof[=DIR] (also profile tsbak once; default DIR bench/results/profiles),
//            --out FILE (default bench/results/latest.json), --markdown (also print the table
//            as Markdown), --strict (exit 1 when a goal is missed), --list
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { table } from '../src/util/format.js';
import { run } from '../test/env/util.js';
import { startBenchEnv, type BenchEnv } from './lib/env.js';
import { machineInfo } from './lib/machine.js';
import { markdownTable, resultTable, writeReport, type BenchReport } from './lib/report.js';
import { sizesOf, type BenchSizes, type ScenarioResult } from './lib/scenario.js';
import { Tsbak } from './lib/tsbak.js';
import { SCENARIOS } from './scenarios/index.js';

// dist/bench/run.js → <repo>/bench/results
const RESULTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');

function log(line: string): void {
  console.error(`bench: ${line}`);
}

function usage(message: string): never {
  console.error(`bench: ${message}\nusage: npm run bench -- [${SCENARIOS.map((s) => s.name).join('|')}]... [--reps N] [--size-mb N] [--rss-size-mb N] [--volume-mb N] [--small-files N] [--small-mb N] [--freeze-mb N[,N...]] [--freeze-files N[,N...]] [--cpu-prof[=DIR]] [--out FILE] [--markdown] [--strict] [--list]`);
  process.exit(2);
}

interface Options extends BenchSizes {
  scenarios: string[];
  profileDir?: string;
  out: string;
  markdown: boolean;
  strict: boolean;
  list: boolean;
}

function parseOptions(argv: string[]): Options {
  // --cpu-prof takes an optional value; parseArgs wants one form, so normalize the bare flag.
  const args = argv.map((a) => (a === '--cpu-prof' ? `--cpu-prof=${path.join(RESULTS, 'profiles')}` : a));
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        reps: { type: 'string', default: '5' },
        'size-mb': { type: 'string', default: '320' },
        'rss-size-mb': { type: 'string' },
        'volume-mb': { type: 'string', default: '300' },
        'small-files': { type: 'string', default: '2000' },
        'small-mb': { type: 'string', default: '100' },
        'freeze-mb': { type: 'string', default: '100,1024' },
        'freeze-files': { type: 'string', default: '100' },
        'cpu-prof': { type: 'string' },
        out: { type: 'string', default: path.join(RESULTS, 'latest.json') },
        markdown: { type: 'boolean', default: false },
        strict: { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    usage((e as Error).message);
  }
  const { values, positionals } = parsed;
  const reps = Number(values.reps);
  const sizeMB = Number(values['size-mb']);
  if (!Number.isInteger(reps) || reps < 1) usage(`--reps wants a whole number >= 1, not "${values.reps}"`);
  if (!Number.isInteger(sizeMB) || sizeMB < 1) usage(`--size-mb wants a whole number of MiB, not "${values['size-mb']}"`);
  const rssSizeMB = values['rss-size-mb'] === undefined ? 2 * sizeMB : Number(values['rss-size-mb']);
  if (!Number.isInteger(rssSizeMB) || rssSizeMB < 0) usage(`--rss-size-mb wants a whole number of MiB (0 skips), not "${values['rss-size-mb']}"`);
  const whole = (name: string, min: number): number => {
    const raw = values[name as keyof typeof values] as string;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) usage(`--${name} wants a whole number >= ${min}, not "${raw}"`);
    return n;
  };
  const volumeMB = whole('volume-mb', 1);
  const smallFiles = whole('small-files', 0);
  const smallMB = whole('small-mb', 0);
  const freezeFiles = values['freeze-files']!.split(',').map(Number);
  if (freezeFiles.length === 0 || !freezeFiles.every((n) => Number.isInteger(n) && n >= 0)) usage(`--freeze-files wants file counts separated by commas, not "${values['freeze-files']}"`);
  const freezeMB = values['freeze-mb']!.split(',').map(Number);
  if (freezeMB.length === 0 || !freezeMB.every((n) => Number.isInteger(n) && n >= 1)) usage(`--freeze-mb wants sizes in MiB separated by commas, not "${values['freeze-mb']}"`);
  const known = SCENARIOS.map((s) => s.name);
  for (const p of positionals) if (!known.includes(p)) usage(`unknown scenario "${p}"; known: ${known.join(', ')}`);
  const opts: Options = {
    scenarios: positionals.length > 0 ? positionals : known,
    reps,
    sizeMB,
    rssSizeMB,
    volumeMB,
    smallFiles,
    smallMB,
    freezeMB,
    freezeFiles,
    out: path.resolve(values.out!),
    markdown: values.markdown!,
    strict: values.strict!,
    list: values.list!,
  };
  if (values['cpu-prof'] !== undefined) opts.profileDir = path.resolve(values['cpu-prof']);
  return opts;
}

/** The source tree's commit (`git describe --always --dirty`), or why it is unknown. */
async function revision(): Promise<string> {
  const root = path.resolve(RESULTS, '../..');
  const r = await run('git', ['-C', root, 'describe', '--always', '--dirty']).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.trim() : 'unknown (not a git work tree)';
}

function detailTable(results: Record<string, ScenarioResult>): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const rows: string[][] = [];
  for (const [scenario, result] of Object.entries(results)) {
    for (const [name, x] of Object.entries(result.series)) {
      rows.push([
        `${scenario}/${name}`,
        s(x.wallMs.median),
        `${s(x.wallMs.min)}..${s(x.wallMs.max)}`,
        s(x.cpuMs.median),
        x.engineCpuMs ? s(x.engineCpuMs.median) : '-',
        `${(x.peakRssKiB.max / 1024).toFixed(1)} MiB`,
        x.load1 ? x.load1.median.toFixed(2) : '-',
      ]);
    }
  }
  return table(['run', 'wall median', 'wall min..max', 'cpu (process)', 'cpu (dockerd)', 'peak RSS', 'load'], rows);
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.list) {
    for (const s of SCENARIOS) console.log(`${s.name.padEnd(12)} ${s.describe}`);
    return 0;
  }
  const started = Date.now();
  let env: BenchEnv | undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    if (++signals > 1) process.exit(exitCodeFor(sig));
    log(`${sig}: tearing down`);
    void (env?.stop() ?? Promise.resolve()).finally(() => process.exit(exitCodeFor(sig)));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Output piped into `head` must not kill the run before it tears its engine down.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

  env = await startBenchEnv(log);
  try {
    const machine = await machineInfo(env.baseDir, env.env);
    log(`${machine.nproc} cpus (${machine.cpu}), ${machine.memoryMiB} MiB, kernel ${machine.kernel}, disk ${machine.disk}, load ${machine.loadAverage}`);
    const results: Record<string, ScenarioResult> = {};
    for (const name of opts.scenarios) {
      const scenario = SCENARIOS.find((s) => s.name === name)!;
      const workDir = path.join(env.baseDir, `work-${name}`);
      mkdirSync(workDir, { recursive: true });
      log(`scenario ${name}: ${scenario.describe}`);
      const t0 = Date.now();
      results[name] = await scenario.run({
        engine: env.engine,
        workDir,
        ...sizesOf(opts),
        env: env.env,
        tsbak: new Tsbak(env.env, workDir, env.engine.pid),
        log: (line) => log(`${name}: ${line}`),
        ...(opts.profileDir ? { profileDir: opts.profileDir } : {}),
      });
      log(`scenario ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    const report: BenchReport = {
      command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
      revision: await revision(),
      machine,
      ...sizesOf(opts),
      durationS: Math.round((Date.now() - started) / 1000),
      loadAverageEnd: Math.round(os.loadavg()[0]! * 100) / 100,
      scenarios: results,
    };
    await writeReport(opts.out, report);
    console.log(`\n${detailTable(results)}\n\nmedians of ${opts.reps} timed repetitions after one warm-up round; peak RSS is the maximum\n`);
    console.log(resultTable(results));
    if (opts.markdown) console.log(`\n${markdownTable(results)}`);
    log(`results written to ${opts.out}`);
    const failed = Object.values(results).flatMap((r) => r.rows).filter((r) => r.pass === false);
    if (failed.length > 0) log(`${failed.length} goal(s) missed: ${failed.map((r) => r.id).join(', ')}`);
    return opts.strict && failed.length > 0 ? 1 : 0;
  } finally {
    const t0 = Date.now();
    await env.stop();
    log(`torn down in ${((Date.now() - t0) / 1000).toFixed(1)} s; whole run ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}

/** Set by SIGINT/SIGTERM: what fails after it (the engine is going away) is not an error to report. */
let interrupted: NodeJS.Signals | undefined;

function exitCodeFor(sig: NodeJS.Signals): number {
  return sig === 'SIGINT' ? 130 : 143;
}

main().then(
  (code) => process.exit(interrupted ? exitCodeFor(interrupted) : code),
  (e: unknown) => {
    if (interrupted) process.exit(exitCodeFor(interrupted));
    console.error(`bench: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
