// Scenario `images`: the image spine against `docker save`, side by side in one run.
//
//   first backup (fresh repository)   vs  docker save IMAGES | zstd -3      goal ratio <= 1.0
//   re-backup of the unchanged set    vs  the first backup                 goal ratio <= 0.05
//   export (repository → archive)     vs  docker save -o FILE IMAGES       goal ratio <= 1.0
//   peak RSS of backup and export                                          goal <= 200 MiB
//
// The set is the big fixture (test/env buildBigFixture: five layers of mixed random and
// text data) plus the small app and tool fixtures. Everything is warmed once before the
// timed repetitions: the page cache cannot be dropped reliably on a shared machine, so
// every contestant reads warm data instead.
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import { DOCKER_CLI } from '../../test/env/install.js';
import { buildBigFixture, buildFixtures } from '../../test/env/fixtures.js';
import { dockerOk } from '../../test/env/dockerd.js';
import { measure, type Measurement } from '../lib/measure.js';
import { sideBySide, type Contestant, type Series } from '../lib/stats.js';
import { compareRow, type BenchContext, type ResultRow, type Scenario, type ScenarioResult } from '../lib/scenario.js';
import { diskBytes, MiB, removePath } from '../lib/files.js';
import { describeProfile, summarizeProfile, type ProfileSummary } from '../lib/cpuprofile.js';

const RSS_GOAL_MIB = 200;

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

async function imageSize(host: string, ref: string): Promise<number> {
  return Number((await dockerOk(host, ['image', 'inspect', '--format', '{{.Size}}', ref])).trim());
}

async function layerCount(host: string, ref: string): Promise<number> {
  return Number((await dockerOk(host, ['image', 'inspect', '--format', '{{len .RootFS.Layers}}', ref])).trim());
}

/** The max of a series' peak RSS, MiB: the figure a memory limit would have to allow. */
function peakMiB(s: Series): number {
  return s.peakRssKiB.max / 1024;
}

export const imagesScenario: Scenario = {
  name: 'images',
  describe: 'image backup, re-backup and export against docker save (| zstd -3); peak RSS',

  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const { engine, tsbak, workDir, log } = ctx;
    const measureOpts = { env: ctx.env, scratch: workDir, enginePid: engine.pid };

    let t0 = Date.now();
    const small = await buildFixtures(engine.host);
    const big = await buildBigFixture(engine.host, ctx.sizeMB);
    log(`fixtures ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${big.name}, ${small.app.name}, ${small.tool.name}`);
    const images = [big.name, small.app.name, small.tool.name];
    const smallSet = [small.app.name, small.tool.name];
    const imageArgs = (set: string[]) => set.flatMap((i) => ['--image', i]);
    const dockerSave = `${DOCKER_CLI} save ${images.map(shellQuote).join(' ')}`;

    const facts: Record<string, unknown> = {
      images,
      bigImage: { name: big.name, layers: await layerCount(engine.host, big.name), sizeMiB: (await imageSize(engine.host, big.name)) / MiB },
      zstdPeer: 'zstd 1.5 CLI defaults: -T1 (one compression worker thread beside the I/O thread); tsbak uses zstd-napi with 2 workers for blobs > 4 MiB',
      warmup: 'one untimed round of every comparison before the timed ones; the page cache is not dropped',
    };
    const series: Record<string, Series> = {};
    const rows: ResultRow[] = [];
    const sizes = { repo: 0, zst: 0, tsbakTar: 0, dockerTar: 0 };

    // ---- first backup vs docker save | zstd -3 (and the bare docker save stream, the engine's floor) ----
    const freshRepo = path.join(workDir, 'fresh-repo');
    const zstOut = path.join(workDir, 'save.tar.zst');
    const backupFresh: Contestant = {
      command: `tsbak backup ${imageArgs(images).join(' ')} --repo <fresh repository>`,
      before: async () => {
        await removePath(freshRepo);
        await tsbak.ok(['init', '--repo', freshRepo]);
      },
      run: () => tsbak.measure(['backup', ...imageArgs(images), '--repo', freshRepo]),
      after: async () => {
        sizes.repo = await diskBytes(freshRepo);
        await removePath(freshRepo);
      },
    };
    const saveZstd: Contestant = {
      command: `${dockerSave} | zstd -3 -q -f -o save.tar.zst`,
      run: () => measure(['sh', '-c', `${dockerSave} | zstd -3 -q -f -o ${shellQuote(zstOut)}`], measureOpts),
      after: async () => {
        sizes.zst = await diskBytes(zstOut);
        await removePath(zstOut);
      },
    };
    const saveNull: Contestant = {
      command: `${dockerSave} > /dev/null`,
      run: () => measure([DOCKER_CLI, 'save', ...images], { ...measureOpts, stdoutFile: '/dev/null' }),
    };
    const firstSet = [backupFresh, saveZstd, saveNull];
    t0 = Date.now();
    await sideBySide(1, firstSet, log, 'first backup, warm-up');
    const [first, zstd, floor] = await sideBySide(ctx.reps, firstSet, log, 'first backup');
    series['backup-first'] = first!;
    series['docker-save-zstd'] = zstd!;
    series['docker-save-null'] = floor!;
    log(`first backup comparison took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    rows.push(
      compareRow({
        id: 'images.first-backup',
        title: 'images: first backup vs docker save | zstd -3',
        unit: 'ms',
        tsbak: first!.wallMs.median,
        peer: zstd!.wallMs.median,
        goal: { kind: 'ratio', max: 1.0 },
      }),
      compareRow({
        id: 'images.first-backup-floor',
        title: 'images: first backup vs docker save > /dev/null (engine floor)',
        unit: 'ms',
        tsbak: first!.wallMs.median,
        peer: floor!.wallMs.median,
      }),
    );

    // ---- re-backup of the unchanged set vs the first backup ----
    const repo = path.join(workDir, 'repo');
    await tsbak.ok(['init', '--repo', repo]);
    await tsbak.ok(['backup', ...imageArgs(images), '--repo', repo]);
    const rebackupC: Contestant = {
      command: `tsbak backup ${imageArgs(images).join(' ')} --repo <repository holding the set>`,
      run: () => tsbak.measure(['backup', ...imageArgs(images), '--repo', repo]),
    };
    await sideBySide(1, [rebackupC], log, 're-backup, warm-up');
    const [rebackup] = await sideBySide(ctx.reps, [rebackupC], log, 're-backup');
    series['backup-unchanged'] = rebackup!;
    rows.push(
      compareRow({
        id: 'images.rebackup',
        title: 'images: re-backup (unchanged) vs first backup',
        unit: 'ms',
        tsbak: rebackup!.wallMs.median,
        peer: first!.wallMs.median,
        goal: { kind: 'ratio', max: 0.05 },
      }),
    );

    // ---- export vs docker save -o ----
    const tsbakTar = path.join(workDir, 'export.tar');
    const dockerTar = path.join(workDir, 'save.tar');
    const exportC: Contestant = {
      command: 'tsbak export latest -o export.tar --repo <repository holding the set>',
      run: () => tsbak.measure(['export', 'latest', '-o', tsbakTar, '--repo', repo]),
      after: async () => {
        sizes.tsbakTar = await diskBytes(tsbakTar);
        await removePath(tsbakTar);
      },
    };
    const saveFile: Contestant = {
      command: `${DOCKER_CLI} save -o save.tar ${images.join(' ')}`,
      run: () => measure([DOCKER_CLI, 'save', '-o', dockerTar, ...images], measureOpts),
      after: async () => {
        sizes.dockerTar = await diskBytes(dockerTar);
        await removePath(dockerTar);
      },
    };
    await sideBySide(1, [exportC, saveFile], log, 'export, warm-up');
    const [exported, saved] = await sideBySide(ctx.reps, [exportC, saveFile], log, 'export');
    series['export'] = exported!;
    series['docker-save-file'] = saved!;
    rows.push(
      compareRow({
        id: 'images.export',
        title: 'images: export vs docker save -o',
        unit: 'ms',
        tsbak: exported!.wallMs.median,
        peer: saved!.wallMs.median,
        goal: { kind: 'ratio', max: 1.0 },
      }),
    );

    // ---- peak RSS: the same runs, plus the small set alone to show it does not grow with size ----
    const smallRepo = path.join(workDir, 'small-repo');
    const smallTar = path.join(workDir, 'small.tar');
    await tsbak.ok(['init', '--repo', smallRepo]);
    const smallBackup = await tsbak.measure(['backup', ...imageArgs(smallSet), '--repo', smallRepo]);
    const smallExport = await tsbak.measure(['export', 'latest', '-o', smallTar, '--repo', smallRepo]);
    const smallBytes = await diskBytes(smallTar);
    await removePath(smallTar);
    await removePath(smallRepo);
    const larger = ctx.rssSizeMB > 0 ? await rssAtSize(ctx, ctx.rssSizeMB) : undefined;
    const rssRow = (id: string, title: string, mib: number, withGoal: boolean) =>
      compareRow({ id, title, unit: 'MiB', tsbak: mib, ...(withGoal ? { goal: { kind: 'absolute' as const, max: RSS_GOAL_MIB } } : {}) });
    const setMiB = Math.round(sizes.dockerTar / MiB);
    const smallMiB = (smallBytes / MiB).toFixed(1);
    rows.push(
      rssRow('images.rss-backup', `images: peak RSS, backup (${setMiB} MiB set)`, peakMiB(first!), true),
      rssRow('images.rss-export', `images: peak RSS, export (${setMiB} MiB set)`, peakMiB(exported!), true),
      rssRow('images.rss-rebackup', 'images: peak RSS, re-backup (unchanged)', peakMiB(rebackup!), false),
      rssRow('images.rss-backup-small', `images: peak RSS, backup (${smallMiB} MiB set)`, smallBackup.peakRssKiB / 1024, false),
      rssRow('images.rss-export-small', `images: peak RSS, export (${smallMiB} MiB set)`, smallExport.peakRssKiB / 1024, false),
    );
    if (larger) {
      const mib = Math.round(larger.archiveMiB);
      rows.push(
        rssRow('images.rss-backup-large', `images: peak RSS, backup (${mib} MiB image)`, larger.backup.peakRssKiB / 1024, true),
        rssRow('images.rss-export-large', `images: peak RSS, export (${mib} MiB image)`, larger.export.peakRssKiB / 1024, true),
      );
      facts.rssLargeImage = { name: larger.image, archiveMiB: larger.archiveMiB, backup: larger.backup, export: larger.export };
    }

    checkComparable(sizes, rebackup!, floor!, log);
    facts.sizesMiB = {
      dockerSaveTar: sizes.dockerTar / MiB,
      tsbakExportTar: sizes.tsbakTar / MiB,
      dockerSaveZstd: sizes.zst / MiB,
      tsbakRepository: sizes.repo / MiB,
      smallSetTar: smallBytes / MiB,
    };
    log(
      `sizes: docker save ${(sizes.dockerTar / MiB).toFixed(1)} MiB, tsbak export ${(sizes.tsbakTar / MiB).toFixed(1)} MiB, ` +
        `zstd -3 ${(sizes.zst / MiB).toFixed(1)} MiB, repository ${(sizes.repo / MiB).toFixed(1)} MiB`,
    );

    const result: ScenarioResult = { rows, series, facts };
    if (ctx.profileDir) result.profiles = await profile(ctx, images, repo);
    await removePath(repo);
    return result;
  },
};

/**
 * Refuses figures that do not compare like with like: a backup that stored far less
 * than zstd wrote, or an export whose size is not docker save's, did not do the same work.
 */
function checkComparable(
  sizes: { repo: number; zst: number; tsbakTar: number; dockerTar: number },
  rebackup: Series,
  floor: Series,
  log: (line: string) => void,
): void {
  const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  if (!(sizes.repo > 0.5 * sizes.zst && sizes.repo < 2 * sizes.zst)) {
    throw new Error(`the first backup's repository holds ${mib(sizes.repo)} where zstd -3 wrote ${mib(sizes.zst)}: the backup did not store the images; figures discarded`);
  }
  if (Math.abs(sizes.tsbakTar - sizes.dockerTar) > 0.05 * sizes.dockerTar) {
    throw new Error(`tsbak export wrote ${mib(sizes.tsbakTar)} but docker save ${mib(sizes.dockerTar)}: not the same images; figures discarded`);
  }
  const engineRe = rebackup.engineCpuMs?.median;
  const engineSave = floor.engineCpuMs?.median;
  if (engineRe !== undefined && engineSave !== undefined && engineRe > 0.25 * engineSave) {
    log(`warning: the engine spent ${engineRe} ms of CPU during the re-backup (a docker save costs it ${engineSave} ms): was the set read again?`);
  }
}

/**
 * One backup and one export of a bigger image alone (built for this), for peak RSS only:
 * memory must not grow with the image.
 */
async function rssAtSize(
  ctx: BenchContext,
  sizeMB: number,
): Promise<{ image: string; archiveMiB: number; backup: Measurement; export: Measurement }> {
  const t0 = Date.now();
  const image = await buildBigFixture(ctx.engine.host, sizeMB);
  ctx.log(`${image.name} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const repo = path.join(ctx.workDir, 'rss-repo');
  const out = path.join(ctx.workDir, 'rss.tar');
  await ctx.tsbak.ok(['init', '--repo', repo]);
  try {
    const backup = await ctx.tsbak.measure(['backup', '--image', image.name, '--repo', repo]);
    const exported = await ctx.tsbak.measure(['export', 'latest', '-o', out, '--repo', repo]);
    const archiveMiB = (await diskBytes(out)) / MiB;
    ctx.log(
      `${image.name}: backup ${(backup.wallMs / 1000).toFixed(2)} s, peak RSS ${(backup.peakRssKiB / 1024).toFixed(1)} MiB; ` +
        `export ${(exported.wallMs / 1000).toFixed(2)} s, peak RSS ${(exported.peakRssKiB / 1024).toFixed(1)} MiB`,
    );
    return { image: image.name, archiveMiB, backup, export: exported };
  } finally {
    await removePath(repo);
    await removePath(out);
    // The engine's copy is not needed again; vfs keeps a full copy per layer.
    await dockerOk(ctx.engine.host, ['image', 'rm', image.name]).catch(() => undefined);
  }
}

/** One profiled first backup and one profiled export: where the main thread's time goes. */
async function profile(ctx: BenchContext, images: string[], repo: string): Promise<Record<string, ProfileSummary>> {
  const dir = ctx.profileDir!;
  const fresh = path.join(ctx.workDir, 'profile-repo');
  const out = path.join(ctx.workDir, 'profile.tar');
  await ctx.tsbak.ok(['init', '--repo', fresh]);
  const imageArgs = images.flatMap((i) => ['--image', i]);
  const files = {
    'backup-first': await ctx.tsbak.profile(['backup', ...imageArgs, '--repo', fresh], dir, 'images-backup-first'),
    'backup-unchanged': await ctx.tsbak.profile(['backup', ...imageArgs, '--repo', fresh], dir, 'images-backup-unchanged'),
    export: await ctx.tsbak.profile(['export', 'latest', '-o', out, '--repo', repo], dir, 'images-export'),
  };
  await removePath(fresh);
  await fsp.rm(out, { force: true });
  const summaries: Record<string, ProfileSummary> = {};
  for (const [name, file] of Object.entries(files)) {
    summaries[name] = await summarizeProfile(file);
    ctx.log(describeProfile(name, summaries[name]!));
  }
  return summaries;
}
