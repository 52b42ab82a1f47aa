// Scenario `freeze`: how long a running container stands still while its volume is backed up.
//
//   freeze window, first backup (fresh repository), median and max   goal <= 100 ms
//   freeze window, nightly re-backup (parent present), median and max goal <= 100 ms
//   the same with --cgroup v1 (freezer.state), once                  goal <= 100 ms
//
// Per size (default 100 MiB and 1 GiB) and per file count (--freeze-files N[,N…], default 100;
// every size with every count): a volume of four large files (90 %, half random and half text)
// and that many small text files (10 %, 100 per directory), filled from the host, and a container of the fixture base image that keeps rewriting 1 MiB of it in place:
//   while :; do dd if=/dev/urandom of=/data/hot bs=64k count=16 conv=notrunc; sleep 0.05; done
// tsbak runs `backup --volume V --json` (freeze is the default) and the window is
// `volumes[0].quiesce[0].windowMs`: from the freeze request to the thaw request.
import path from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { BASE_IMAGE, buildFixtures } from '../../test/env/fixtures.js';
import { dockerOk } from '../../test/env/dockerd.js';
import { sleep } from '../../test/env/util.js';
import { writeFile, writeSmallFiles } from '../lib/data.js';
import { MiB, removePath } from '../lib/files.js';
import { compareRow, type BenchContext, type ResultRow, type Scenario, type ScenarioResult } from '../lib/scenario.js';
import { sideBySide, summarize, type Contestant, type Series, type Summary } from '../lib/stats.js';
import { createVolume, readJson, removeContainer, removeVolume } from '../lib/volumes.js';

const WINDOW_GOAL_MS = 100;
/** `--freeze-files`' default: runs with it keep the ids of the runs before file counts were a list. */
const DEFAULT_FILES = 100;
const RSS_GOAL_MIB = 200;
const WRITER = 'while :; do dd if=/dev/urandom of=/data/hot bs=64k count=16 conv=notrunc 2>/dev/null; sleep 0.05; done';

interface Quiesce {
  container: string;
  mode: string;
  windowMs?: number;
  cgroup?: string;
}
interface TsbakVolumeJson {
  volumes: { name: string; method: string; newBytes: number; quiesce: Quiesce[] }[];
  failures: { item: string; error: string }[];
}

/** The freeze record of the one container, from a `backup --json` output; throws when it was not frozen. */
async function windowOf(file: string, container: string): Promise<{ windowMs: number; cgroup: string; method: string }> {
  const doc = await readJson<TsbakVolumeJson>(file);
  const v = doc.volumes[0];
  if (doc.failures.length > 0 || !v) throw new Error(`tsbak backup failed: ${JSON.stringify(doc.failures)}`);
  const q = v.quiesce.find((x) => x.container === container);
  if (!q || q.mode !== 'freeze' || q.windowMs === undefined) throw new Error(`${container} was not frozen: ${JSON.stringify(v.quiesce)}`);
  return { windowMs: q.windowMs, cgroup: q.cgroup ?? '?', method: v.method };
}

const label = (mb: number) => (mb >= 1024 && mb % 1024 === 0 ? `${mb / 1024} GiB` : `${mb} MiB`);

export const freezeScenario: Scenario = {
  name: 'freeze',
  describe: 'freeze window of a running container (rewriting 1 MiB) while its 100 MiB / 1 GiB volume is backed up',

  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const { engine, tsbak, workDir, log } = ctx;
    await buildFixtures(engine.host);
    const rows: ResultRow[] = [];
    const series: Record<string, Series> = {};
    const facts: Record<string, unknown> = {
      writer: WRITER,
      image: BASE_IMAGE,
      layout: `four large files (90 %, half random, half text) + ${ctx.freezeFiles.join(' or ')} small text files (10 %) + the 1 MiB file the writer rewrites`,
    };
    const windows: Record<string, Summary> = {};
    const methods = new Set<string>();
    const cgroups = new Set<string>();

    const combos = ctx.freezeMB.flatMap((mb) => ctx.freezeFiles.map((files) => ({ mb, files })));
    for (const [i, { mb, files }] of combos.entries()) {
      // The default file count keeps the ids and titles of earlier runs; other counts are named.
      const key = files === DEFAULT_FILES ? `${mb}` : `${mb}-${files}f`;
      const what = files === DEFAULT_FILES ? label(mb) : `${label(mb)}, ${files.toLocaleString('en-US')} files`;
      const volume = `bench-freeze-${key}`;
      const writer = `bench-writer-${key}`;
      const last = i === combos.length - 1;
      let t0 = Date.now();
      const dir = await createVolume(engine.host, volume);
      const large = Math.floor((0.9 * mb * MiB) / 4);
      for (let f = 0; f < 4; f++) await writeFile(path.join(dir, `large-${f}.bin`), large, 'mixed', `freeze/${mb}/${f}`);
      await writeSmallFiles(path.join(dir, 'small'), files, Math.round(0.1 * mb * MiB), `freeze/${mb}/small`);
      log(`${volume} filled in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await removeContainer(engine.host, writer);
      await dockerOk(engine.host, ['run', '-d', '--name', writer, '--network', 'none', '-v', `${volume}:/data`, BASE_IMAGE, 'sh', '-c', WRITER]);
      const hot = path.join(dir, 'hot');
      for (let k = 0; k < 100 && !(existsSync(hot) && statSync(hot).size === MiB); k++) await sleep(50);
      if (!existsSync(hot)) throw new Error(`${writer} did not start writing ${hot}`);
      const repoFresh = path.join(workDir, `fresh-${key}`);
      const repo = path.join(workDir, `repo-${key}`);
      const out = path.join(workDir, `backup-${key}.json`);
      const args = (r: string, extra: string[] = []) => ['backup', '--volume', volume, ...extra, '--repo', r, '--json'];
      try {
        // ---- first backup: a fresh repository each time ----
        const first: number[] = [];
        const firstC: Contestant = {
          command: `tsbak backup --volume ${volume} --repo <fresh repository> --json`,
          before: async () => {
            await removePath(repoFresh);
            await tsbak.ok(['init', '--repo', repoFresh]);
          },
          run: () => tsbak.measure(args(repoFresh), { stdoutFile: out }),
          after: async () => {
            const w = await windowOf(out, writer);
            first.push(w.windowMs);
            methods.add(w.method);
            cgroups.add(w.cgroup);
            await removePath(repoFresh);
          },
        };
        t0 = Date.now();
        await sideBySide(1, [firstC], log, `${what} first backup, warm-up`);
        first.length = 0;
        const [firstS] = await sideBySide(ctx.reps, [firstC], log, `${what} first backup`);
        series[`first-${key}`] = firstS!;
        windows[`first-${key}`] = summarize(first);
        log(`${what} first backups took ${((Date.now() - t0) / 1000).toFixed(1)} s; windows ${first.join(', ')} ms`);

        // ---- nightly: the repository holds the previous backup ----
        await tsbak.ok(['init', '--repo', repo]);
        await tsbak.ok(args(repo));
        const nightly: number[] = [];
        const nightlyC: Contestant = {
          command: `tsbak backup --volume ${volume} --repo <repository holding it> --json`,
          run: () => tsbak.measure(args(repo), { stdoutFile: out }),
          after: async () => {
            const w = await windowOf(out, writer);
            nightly.push(w.windowMs);
            methods.add(w.method);
            cgroups.add(w.cgroup);
          },
        };
        await sideBySide(1, [nightlyC], log, `${what} nightly, warm-up`);
        nightly.length = 0;
        const [nightlyS] = await sideBySide(ctx.reps, [nightlyC], log, `${what} nightly`);
        series[`nightly-${key}`] = nightlyS!;
        windows[`nightly-${key}`] = summarize(nightly);
        log(`${what} nightly windows ${nightly.join(', ')} ms`);

        for (const [kind, title, s] of [
          ['first', 'first backup', firstS!],
          ['nightly', 'nightly re-backup', nightlyS!],
        ] as const) {
          const w = windows[`${kind}-${key}`]!;
          rows.push(
            compareRow({ id: `freeze.${kind}-${key}.median`, title: `freeze: window, ${what}, ${title} (median of ${ctx.reps})`, unit: 'ms', tsbak: w.median, goal: { kind: 'absolute', max: WINDOW_GOAL_MS } }),
            compareRow({ id: `freeze.${kind}-${key}.max`, title: `freeze: window, ${what}, ${title} (max of ${ctx.reps})`, unit: 'ms', tsbak: w.max, goal: { kind: 'absolute', max: WINDOW_GOAL_MS } }),
            compareRow({ id: `freeze.${kind}-${key}.wall`, title: `freeze: whole ${title}, ${what} (median)`, unit: 'ms', tsbak: s.wallMs.median }),
            compareRow({ id: `freeze.${kind}-${key}.rss`, title: `freeze: peak RSS, ${title}, ${what}`, unit: 'MiB', tsbak: s.peakRssKiB.max / 1024, goal: { kind: 'absolute', max: RSS_GOAL_MIB } }),
          );
        }

        // ---- the v1 freezer (freezer.state), once, on the largest volume's nightly backup ----
        if (last) {
          const m = await tsbak.measure(args(repo, ['--cgroup', 'v1']), { stdoutFile: out });
          const w = await windowOf(out, writer);
          if (w.cgroup !== 'v1') throw new Error(`--cgroup v1 reported cgroup ${w.cgroup}`);
          log(`${what} nightly with --cgroup v1: window ${w.windowMs} ms, ${(m.wallMs / 1000).toFixed(2)} s`);
          facts.v1 = { sizeMB: mb, files, windowMs: w.windowMs, wallMs: m.wallMs, method: w.method };
          rows.push(compareRow({ id: 'freeze.v1', title: `freeze: window, ${what}, nightly, --cgroup v1 (1 run)`, unit: 'ms', tsbak: w.windowMs, goal: { kind: 'absolute', max: WINDOW_GOAL_MS } }));
        }
        // The writer must have kept running through all of it.
        const state = (await dockerOk(engine.host, ['inspect', '--format', '{{.State.Status}}', writer])).trim();
        if (state !== 'running') throw new Error(`${writer} is ${state} after the backups`);
      } finally {
        await removeContainer(engine.host, writer);
        await removePath(repoFresh);
        await removePath(repo);
        await removeVolume(engine.host, volume);
      }
    }
    facts.windowsMs = windows;
    facts.methods = [...methods];
    facts.cgroups = [...cgroups];
    return { rows, series, facts };
  },
};
