// Scenario `restore`: restoring images into the engine against `docker load`.
//
//   tsbak restore latest --image …   vs  zstd -dc set.tar.zst | docker load   goal ratio <= 1.1
//   (info) vs docker load -i set.tar (uncompressed: the engine's own floor)
//   peak RSS of the restore                                                  goal <= 200 MiB
//
// The set is the images scenario's: the big fixture plus app and tool. It is backed up once
// and saved once (`docker save`, then `zstd -3`), untimed. Before every run, of either
// contestant, the set's images are removed from the engine (`docker image rm`, untimed), so
// each run loads every layer but the busybox base, which the base image keeps. After every
// run the images must be back with their original IDs, or the figures are refused.
import path from 'node:path';
import { DOCKER_CLI } from '../../test/env/install.js';
import { runOk } from '../../test/env/util.js';
import { measure } from '../lib/measure.js';
import { diskBytes, MiB, removePath } from '../lib/files.js';
import { compareRow, type BenchContext, type ResultRow, type Scenario, type ScenarioResult } from '../lib/scenario.js';
import { sideBySide, type Contestant, type Series } from '../lib/stats.js';
import { backupImageSet, buildImageSet, checkImageSet, removeImageSet, saveImageSet, shellQuote } from '../lib/imageset.js';
import { readJson } from '../lib/volumes.js';
import { describeProfile, summarizeProfile, type ProfileSummary } from '../lib/cpuprofile.js';

const RSS_GOAL_MIB = 200;

interface RestoreJson {
  items: { kind: string; name: string; action: string; status: string; detail?: string }[];
}

export const restoreScenario: Scenario = {
  name: 'restore',
  describe: 'image restore into the engine against zstd -dc | docker load (and docker load of the plain tar)',

  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const { tsbak, workDir, log } = ctx;
    const measureOpts = { env: ctx.env, scratch: workDir, enginePid: ctx.engine.pid };
    const set = await buildImageSet(ctx);
    const repo = path.join(workDir, 'repo');
    const tar = path.join(workDir, 'set.tar');
    const zst = `${tar}.zst`;
    const out = path.join(workDir, 'restore.json');
    let t0 = Date.now();
    await backupImageSet(ctx, set, repo);
    await saveImageSet(ctx, set, tar);
    await runOk('zstd', ['-3', '-q', '-f', tar, '-o', zst]);
    const facts: Record<string, unknown> = {
      images: set.images,
      sizesMiB: { tar: (await diskBytes(tar)) / MiB, zst: (await diskBytes(zst)) / MiB, repository: (await diskBytes(repo)) / MiB },
      removal: 'docker image rm of the set before every run (untimed); the base layer stays (tsbak-fixture/base:1 keeps it)',
    };
    log(`backup, docker save and zstd -3 ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(facts.sizesMiB)}`);

    const tsbakC: Contestant = {
      command: `tsbak restore latest ${set.imageArgs.join(' ')} --repo <repository> --json`,
      before: () => removeImageSet(ctx, set),
      run: () => tsbak.measure(['restore', 'latest', ...set.imageArgs, '--repo', repo, '--json'], { stdoutFile: out }),
      after: async () => {
        const doc = await readJson<RestoreJson>(out);
        const notDone = doc.items.filter((i) => i.status !== 'done');
        if (notDone.length > 0 || doc.items.length === 0) throw new Error(`tsbak restore did not restore everything: ${JSON.stringify(notDone)}`);
        await checkImageSet(ctx, set, 'tsbak restore');
      },
    };
    const loadZstC: Contestant = {
      command: `zstd -dc set.tar.zst | ${DOCKER_CLI} load`,
      before: () => removeImageSet(ctx, set),
      run: () => measure(['sh', '-c', `zstd -dc ${shellQuote(zst)} | ${DOCKER_CLI} load -q`], measureOpts),
      after: () => checkImageSet(ctx, set, 'docker load'),
    };
    const loadTarC: Contestant = {
      command: `${DOCKER_CLI} load -i set.tar`,
      before: () => removeImageSet(ctx, set),
      run: () => measure([DOCKER_CLI, 'load', '-q', '-i', tar], measureOpts),
      after: () => checkImageSet(ctx, set, 'docker load -i'),
    };
    const contestants = [tsbakC, loadZstC, loadTarC];
    t0 = Date.now();
    await sideBySide(1, contestants, log, 'restore, warm-up');
    const [restored, loadZst, loadTar] = await sideBySide(ctx.reps, contestants, log, 'restore');
    log(`restore comparison took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const series: Record<string, Series> = { 'tsbak-restore': restored!, 'docker-load-zstd': loadZst!, 'docker-load-tar': loadTar! };
    const setMiB = Math.round((facts.sizesMiB as { tar: number }).tar);
    const rows: ResultRow[] = [
      compareRow({ id: 'restore.engine', title: `restore: ${setMiB} MiB set into the engine vs zstd -dc | docker load`, unit: 'ms', tsbak: restored!.wallMs.median, peer: loadZst!.wallMs.median, goal: { kind: 'ratio', max: 1.1 } }),
      compareRow({ id: 'restore.engine-floor', title: 'restore: vs docker load -i of the plain tar (engine floor)', unit: 'ms', tsbak: restored!.wallMs.median, peer: loadTar!.wallMs.median }),
      compareRow({ id: 'restore.rss', title: 'restore: peak RSS', unit: 'MiB', tsbak: restored!.peakRssKiB.max / 1024, goal: { kind: 'absolute', max: RSS_GOAL_MIB } }),
    ];
    const result: ScenarioResult = { rows, series, facts };
    if (ctx.profileDir) {
      await removeImageSet(ctx, set);
      const file = await tsbak.profile(['restore', 'latest', ...set.imageArgs, '--repo', repo], ctx.profileDir, 'restore-engine');
      await checkImageSet(ctx, set, 'the profiled tsbak restore');
      const summary: ProfileSummary = await summarizeProfile(file);
      log(describeProfile('restore', summary));
      result.profiles = { restore: summary };
    }
    await removePath(repo);
    await removePath(tar);
    await removePath(zst);
    return result;
  },
};
