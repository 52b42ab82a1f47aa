// Scenario `volumes`: volume backup against restic, side by side on the same directory.
//
//   first backup (fresh repositories)            tsbak vs restic     goal ratio <= 1.0
//   re-backup, nothing changed                   tsbak vs restic     goal ratio <= 1.0
//   re-backup after 1 MiB changed in the big file tsbak vs restic    goal ratio <= 1.0
//   repository size after the first backup       tsbak vs restic     goal ratio <= 1.0
//   peak RSS of every tsbak run                                      goal <= 200 MiB
//   one first backup with a running container using the volume (--quiesce freeze): info
//
// The volume is created on the bench's engine (`docker volume create`) and filled from the
// host through its Mountpoint: one big file (default 300 MiB, half random and half text,
// in alternating 1 MiB blocks) and small text files (default 2,000 totalling 100 MiB).
// Contents come from seeded generators (bench/lib/data.ts), the same on every run.
// tsbak runs `backup --volume NAME`; restic runs `restic backup <Mountpoint>` with a local
// repository. No container uses the volume, so quiescing does not come into it, except in
// the one run that says so. restic encrypts its repository, tsbak does not.
import path from 'node:path';
import { BASE_IMAGE, buildFixtures } from '../../test/env/fixtures.js';
import { docker, dockerOk } from '../../test/env/dockerd.js';
import { changeMiddle, writeFile, writeSmallFiles } from '../lib/data.js';
import { MiB, removePath } from '../lib/files.js';
import { compareRow, type BenchContext, type ResultRow, type Scenario, type ScenarioResult } from '../lib/scenario.js';
import { sideBySide, type Contestant, type Series } from '../lib/stats.js';
import { createVolume, duBytes, readJson, removeContainer, removeVolume, Restic } from '../lib/volumes.js';
import { describeProfile, summarizeProfile, type ProfileSummary } from '../lib/cpuprofile.js';

const RSS_GOAL_MIB = 200;
const VOLUME = 'bench-volume';
const USER = 'bench-volume-user';

interface TsbakVolumeJson {
  snapshotId: string;
  volumes: { name: string; files: number; bytes: number; newBytes: number; method: string; quiesce: { container: string; mode: string; windowMs?: number; cgroup?: string }[] }[];
  failures: { item: string; error: string }[];
}

const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

export const volumesScenario: Scenario = {
  name: 'volumes',
  describe: 'volume first backup, unchanged and 1 MiB-changed re-backups and repository size against restic; peak RSS',

  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const { engine, tsbak, workDir, log } = ctx;
    const restic = new Restic(ctx.env, workDir);
    const series: Record<string, Series> = {};
    const rows: ResultRow[] = [];

    // ---- the data ----
    let t0 = Date.now();
    const dir = await createVolume(engine.host, VOLUME);
    const bigFile = path.join(dir, 'big.bin');
    await writeFile(bigFile, ctx.volumeMB * MiB, 'mixed', 'volumes/big');
    const smallBytes = await writeSmallFiles(path.join(dir, 'small'), ctx.smallFiles, ctx.smallMB * MiB, 'volumes/small');
    const dataBytes = ctx.volumeMB * MiB + smallBytes;
    log(`volume ${VOLUME} filled in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${mib(dataBytes)} (${ctx.volumeMB} MiB file, ${ctx.smallFiles} small files, ${mib(smallBytes)})`);
    const facts: Record<string, unknown> = {
      volume: { name: VOLUME, mountpoint: dir, bigFileMiB: ctx.volumeMB, smallFiles: ctx.smallFiles, smallMiB: smallBytes / MiB, totalMiB: dataBytes / MiB },
      data: 'big file: alternating 1 MiB blocks of AES-CTR keystream and numbered word lines (half incompressible); small files: word lines',
      restic: await restic.version(),
      resticRepository: 'format 2 (restic >= 0.14 default): zstd compression "auto", encrypted (AES-256-CTR + Poly1305-AES); tsbak: zstd -3, not encrypted',
      warmup: 'one untimed round of every comparison before the timed ones; the page cache is not dropped',
    };

    const out = (name: string) => path.join(workDir, `${name}.json`);
    const tsbakBackup = (repo: string, name: string, extra: string[] = []) => tsbak.measure(['backup', '--volume', VOLUME, ...extra, '--repo', repo, '--json'], { stdoutFile: out(name) });
    const tsbakResult = async (name: string): Promise<TsbakVolumeJson['volumes'][number]> => {
      const doc = await readJson<TsbakVolumeJson>(out(name));
      if (doc.failures.length > 0 || doc.volumes.length !== 1) throw new Error(`tsbak backup of ${VOLUME} failed: ${JSON.stringify(doc.failures)}`);
      return doc.volumes[0]!;
    };

    // ---- first backup: fresh repositories at every repetition ----
    const sizes = { tsbak: 0, restic: 0 };
    const tsbakFresh = path.join(workDir, 'tsbak-fresh');
    const resticFresh = path.join(workDir, 'restic-fresh');
    const firstTsbak: Contestant = {
      command: `tsbak backup --volume ${VOLUME} --repo <fresh repository> --json`,
      before: async () => {
        await removePath(tsbakFresh);
        await tsbak.ok(['init', '--repo', tsbakFresh]);
      },
      run: () => tsbakBackup(tsbakFresh, 'tsbak-first'),
      after: async () => {
        const v = await tsbakResult('tsbak-first');
        if (v.newBytes < 0.4 * ctx.volumeMB * MiB) throw new Error(`the first tsbak backup added only ${mib(v.newBytes)} for ${mib(dataBytes)}: figures discarded`);
        sizes.tsbak = await duBytes(tsbakFresh);
        await removePath(tsbakFresh);
      },
    };
    const firstRestic: Contestant = {
      command: 'restic backup <Mountpoint> --json (fresh repository)',
      before: () => restic.init(resticFresh),
      run: () => restic.backup(resticFresh, dir, out('restic-first')),
      after: async () => {
        const s = await Restic.summary(out('restic-first'));
        if (s.total_bytes_processed !== dataBytes) throw new Error(`restic processed ${s.total_bytes_processed} bytes of ${dataBytes}: figures discarded`);
        sizes.restic = await duBytes(resticFresh);
        await restic.remove(resticFresh);
      },
    };
    t0 = Date.now();
    await sideBySide(1, [firstTsbak, firstRestic], log, 'first backup, warm-up');
    const [tFirst, rFirst] = await sideBySide(ctx.reps, [firstTsbak, firstRestic], log, 'first backup');
    series['tsbak-first'] = tFirst!;
    series['restic-first'] = rFirst!;
    log(`first backup comparison took ${((Date.now() - t0) / 1000).toFixed(1)} s; repositories: tsbak ${mib(sizes.tsbak)}, restic ${mib(sizes.restic)}`);
    // Half of the big file is random: neither repository can be smaller than that.
    for (const [who, bytes] of Object.entries(sizes)) {
      if (bytes < 0.45 * ctx.volumeMB * MiB || bytes > 1.1 * dataBytes) throw new Error(`${who}'s repository holds ${mib(bytes)} for ${mib(dataBytes)} of data: figures discarded`);
    }

    // ---- re-backups: one repository each, holding a first backup ----
    const tsbakRepo = path.join(workDir, 'tsbak-repo');
    const resticRepo = path.join(workDir, 'restic-repo');
    await tsbak.ok(['init', '--repo', tsbakRepo]);
    await tsbak.ok(['backup', '--volume', VOLUME, '--repo', tsbakRepo]);
    await restic.init(resticRepo);
    await restic.backupOk(resticRepo, dir);

    const unchangedTsbak: Contestant = {
      command: `tsbak backup --volume ${VOLUME} --repo <repository holding it> --json`,
      run: () => tsbakBackup(tsbakRepo, 'tsbak-unchanged'),
      after: async () => {
        const v = await tsbakResult('tsbak-unchanged');
        if (v.newBytes > MiB) throw new Error(`the unchanged re-backup added ${mib(v.newBytes)}: figures discarded`);
      },
    };
    const unchangedRestic: Contestant = {
      command: 'restic backup <Mountpoint> --json (parent snapshot)',
      run: () => restic.backup(resticRepo, dir, out('restic-unchanged')),
      after: async () => {
        const s = await Restic.summary(out('restic-unchanged'));
        if (s.files_new + s.files_changed > 0) throw new Error(`restic saw ${s.files_new} new and ${s.files_changed} changed files in an unchanged volume: figures discarded`);
      },
    };
    await sideBySide(1, [unchangedTsbak, unchangedRestic], log, 'unchanged re-backup, warm-up');
    const [tSame, rSame] = await sideBySide(ctx.reps, [unchangedTsbak, unchangedRestic], log, 'unchanged re-backup');
    series['tsbak-unchanged'] = tSame!;
    series['restic-unchanged'] = rSame!;

    // Each repetition writes a new 1 MiB in the middle of the big file, then both back up.
    let change = 0;
    const added = { tsbak: [] as number[], restic: [] as number[] };
    const changedTsbak: Contestant = {
      command: `tsbak backup --volume ${VOLUME} --repo <repository holding it> --json (1 MiB changed)`,
      before: async () => {
        await changeMiddle(bigFile, `rep-${change++}`);
      },
      run: () => tsbakBackup(tsbakRepo, 'tsbak-changed'),
      after: async () => {
        const v = await tsbakResult('tsbak-changed');
        if (v.newBytes < 0.9 * MiB || v.newBytes > 16 * MiB) throw new Error(`the re-backup after a 1 MiB change added ${mib(v.newBytes)}: figures discarded`);
        added.tsbak.push(v.newBytes);
      },
    };
    const changedRestic: Contestant = {
      command: 'restic backup <Mountpoint> --json (1 MiB changed)',
      run: () => restic.backup(resticRepo, dir, out('restic-changed')),
      after: async () => {
        const s = await Restic.summary(out('restic-changed'));
        if (s.files_changed !== 1 || s.data_added < 0.9 * MiB) throw new Error(`restic saw ${s.files_changed} changed files and added ${mib(s.data_added)} after a 1 MiB change: figures discarded`);
        added.restic.push(s.data_added);
      },
    };
    await sideBySide(1, [changedTsbak, changedRestic], log, '1 MiB changed, warm-up');
    added.tsbak.length = 0;
    added.restic.length = 0;
    const [tChanged, rChanged] = await sideBySide(ctx.reps, [changedTsbak, changedRestic], log, '1 MiB changed');
    series['tsbak-changed'] = tChanged!;
    series['restic-changed'] = rChanged!;

    const ratioRow = (id: string, title: string, t: Series, r: Series) =>
      compareRow({ id, title, unit: 'ms', tsbak: t.wallMs.median, peer: r.wallMs.median, goal: { kind: 'ratio', max: 1.0 } });
    const dataMiB = Math.round(dataBytes / MiB);
    rows.push(
      ratioRow('volumes.first-backup', `volumes: first backup (${dataMiB} MiB) vs restic backup`, tFirst!, rFirst!),
      ratioRow('volumes.rebackup', 'volumes: re-backup (unchanged) vs restic backup', tSame!, rSame!),
      ratioRow('volumes.changed', 'volumes: re-backup (1 MiB changed) vs restic backup', tChanged!, rChanged!),
      compareRow({ id: 'volumes.repo-size', title: 'volumes: repository size after the first backup vs restic', unit: 'MiB', tsbak: sizes.tsbak / MiB, peer: sizes.restic / MiB, goal: { kind: 'ratio', max: 1.0 } }),
    );
    for (const [key, label, s] of [
      ['first', 'first backup', tFirst!],
      ['unchanged', 're-backup (unchanged)', tSame!],
      ['changed', 're-backup (1 MiB changed)', tChanged!],
    ] as const) {
      rows.push(compareRow({ id: `volumes.rss-${key}`, title: `volumes: peak RSS, ${label}`, unit: 'MiB', tsbak: s.peakRssKiB.max / 1024, peer: (key === 'first' ? rFirst! : key === 'unchanged' ? rSame! : rChanged!).peakRssKiB.max / 1024, goal: { kind: 'absolute', max: RSS_GOAL_MIB } }));
    }

    // ---- one first backup while a container uses the volume (--quiesce freeze) ----
    await buildFixtures(engine.host);
    await removeContainer(engine.host, USER);
    await dockerOk(engine.host, ['run', '-d', '--name', USER, '--network', 'none', '-v', `${VOLUME}:/data`, BASE_IMAGE, 'sleep', '86400']);
    try {
      await removePath(tsbakFresh);
      await tsbak.ok(['init', '--repo', tsbakFresh]);
      const m = await tsbakBackup(tsbakFresh, 'tsbak-frozen', ['--quiesce', 'freeze']);
      const v = await tsbakResult('tsbak-frozen');
      const q = v.quiesce[0];
      if (!q || q.mode !== 'freeze' || q.windowMs === undefined) throw new Error(`the backup with a running user did not freeze it: ${JSON.stringify(v.quiesce)}`);
      log(`first backup with ${USER} running, --quiesce freeze: ${(m.wallMs / 1000).toFixed(2)} s, ${v.method}, frozen ${q.windowMs} ms (${q.cgroup}), peak RSS ${(m.peakRssKiB / 1024).toFixed(1)} MiB`);
      facts.frozenRun = { measurement: m, method: v.method, quiesce: q };
      rows.push(
        compareRow({ id: 'volumes.first-backup-frozen', title: 'volumes: first backup, container running, --quiesce freeze (1 run) vs without', unit: 'ms', tsbak: m.wallMs, peer: tFirst!.wallMs.median }),
        compareRow({ id: 'volumes.first-backup-frozen-window', title: `volumes: freeze window of that run (${v.method}, ${q.cgroup}, ${v.files} files)`, unit: 'ms', tsbak: q.windowMs, goal: { kind: 'absolute', max: 100 } }),
      );
    } finally {
      await removeContainer(engine.host, USER);
      await removePath(tsbakFresh);
    }

    facts.repositoryBytes = sizes;
    facts.addedAfterChange = added;
    const result: ScenarioResult = { rows, series, facts };
    if (ctx.profileDir) result.profiles = await profile(ctx, bigFile);
    await removePath(tsbakRepo);
    await restic.remove(resticRepo);
    await removeVolume(engine.host, VOLUME);
    await docker(engine.host, ['volume', 'prune', '-f']);
    return result;
  },
};

/** One profiled first backup and one profiled re-backup after a change: where the main thread's time goes. */
async function profile(ctx: BenchContext, bigFile: string): Promise<Record<string, ProfileSummary>> {
  const dir = ctx.profileDir!;
  const repo = path.join(ctx.workDir, 'profile-repo');
  await removePath(repo);
  await ctx.tsbak.ok(['init', '--repo', repo]);
  const args = ['backup', '--volume', VOLUME, '--repo', repo];
  const files: Record<string, string> = { 'backup-first': await ctx.tsbak.profile(args, dir, 'volumes-backup-first') };
  await changeMiddle(bigFile, 'profile');
  files['backup-changed'] = await ctx.tsbak.profile(args, dir, 'volumes-backup-changed');
  await removePath(repo);
  const summaries: Record<string, ProfileSummary> = {};
  for (const [name, file] of Object.entries(files)) {
    summaries[name] = await summarizeProfile(file);
    ctx.log(describeProfile(name, summaries[name]!));
  }
  return summaries;
}
