// Scenario `runtime`: from a snapshot to a container that has run, in tsbak's built-in runtime
// against the Docker engine.
//
//   tsbak restore latest --image BIG --to runtime  +  tsbak runtime run --rm BIG true     vs
//   tsbak restore latest --image BIG --to docker   +  docker run --rm BIG true            goal ratio <= 1.0
//   (info) each step alone: the restore, and the run (the built-in runtime unpacks the
//          container's rootfs at create; the engine's vfs driver copies the image's rootfs)
//   peak RSS of the tsbak processes (the larger of restore and run)                       goal <= 200 MiB
//
// BIG is the big fixture (test/env buildBigFixture, --size-mb), backed up once into a
// repository, untimed. Before every tsbak run the runtime root is new and empty
// (TSBAK_RUNTIME_ROOT, removed after the run); before every peer run the engine has no BIG
// (`docker rmi`, untimed; the busybox base layer stays, because tsbak-fixture/base:1 keeps it).
// After every run the image must be in the runtime (or the engine) with its original ID and
// no container may be left, or the figures are refused.
import path from 'node:path';
import { docker, dockerOk } from '../../test/env/dockerd.js';
import { buildBigFixture } from '../../test/env/fixtures.js';
import { DOCKER_CLI } from '../../test/env/install.js';
import { describeProfile, summarizeProfile, type ProfileSummary } from '../lib/cpuprofile.js';
import { diskBytes, MiB, removePath } from '../lib/files.js';
import { measure, type Measurement } from '../lib/measure.js';
import { compareRow, type BenchContext, type ResultRow, type Scenario, type ScenarioResult } from '../lib/scenario.js';
import { series, sideBySide, type Contestant, type Series } from '../lib/stats.js';
import { Tsbak } from '../lib/tsbak.js';
import { readJson } from '../lib/volumes.js';

const RSS_GOAL_MIB = 200;

interface RestoreJson {
  items: { kind: string; name: string; action: string; status: string; detail?: string }[];
}

interface RuntimeImageJson {
  id: string;
  names: string[];
}

/** Two commands timed one after the other: wall and CPU add up, peak RSS is the larger. */
function combined(a: Measurement, b: Measurement): Measurement {
  const m: Measurement = { wallMs: a.wallMs + b.wallMs, peakRssKiB: Math.max(a.peakRssKiB, b.peakRssKiB), cpuMs: a.cpuMs + b.cpuMs };
  if (a.engineCpuMs !== undefined && b.engineCpuMs !== undefined) m.engineCpuMs = a.engineCpuMs + b.engineCpuMs;
  return m;
}

/** Each step's measurements, kept beside the combined ones sideBySide returns. */
class Steps {
  restore: Measurement[] = [];
  run: Measurement[] = [];
  reset(): void {
    this.restore = [];
    this.run = [];
  }
}

export const runtimeScenario: Scenario = {
  name: 'runtime',
  describe: 'snapshot to a container that ran: restore --to runtime + tsbak runtime run, against restore --to docker + docker run',

  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const { workDir, log } = ctx;
    const host = ctx.engine.host;
    let t0 = Date.now();
    const big = await buildBigFixture(host, ctx.sizeMB);
    const imageMiB = Number((await dockerOk(host, ['image', 'inspect', '--format', '{{.Size}}', big.name])).trim()) / MiB;
    const repo = path.join(workDir, 'repo');
    await ctx.tsbak.ok(['init', '--repo', repo]);
    await ctx.tsbak.ok(['backup', '--image', big.name, '--repo', repo]);
    log(`${big.name} (${imageMiB.toFixed(1)} MiB) backed up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // The tsbak side: a fresh runtime root per run, in the scenario's directory (the engine's disk).
    const runtimeRoot = path.join(workDir, 'runtime-root');
    const rt = new Tsbak({ ...ctx.env, TSBAK_RUNTIME_ROOT: runtimeRoot }, workDir, ctx.engine.pid);
    const restoreOut = path.join(workDir, 'restore-runtime.json');
    const dockerRestoreOut = path.join(workDir, 'restore-docker.json');
    const measureOpts = { env: ctx.env, scratch: workDir, enginePid: ctx.engine.pid };
    const restoreArgs = ['restore', 'latest', '--image', big.name, '--repo', repo, '--json'];
    const runArgs = ['runtime', 'run', '--rm', big.name, 'true'];
    const facts: Record<string, unknown> = {
      image: big.name,
      imageId: big.id,
      imageMiB,
      repositoryMiB: (await diskBytes(repo)) / MiB,
      runtimeRoot: 'new and empty before every tsbak run (TSBAK_RUNTIME_ROOT), removed after it',
      removal: `docker rmi ${big.name} before every peer run (untimed); the busybox base layer stays (tsbak-fixture/base:1 keeps it)`,
      storageDriver: (await dockerOk(host, ['info', '--format', '{{.Driver}}'])).trim(),
    };

    const checkRestored = async (file: string, who: string) => {
      const doc = await readJson<RestoreJson>(file);
      const notDone = doc.items.filter((i) => i.status !== 'done');
      if (notDone.length > 0 || !doc.items.some((i) => i.kind === 'image')) throw new Error(`${who} did not restore ${big.name}: ${JSON.stringify(doc.items)}`);
    };
    const tsbakSteps = new Steps();
    const dockerSteps = new Steps();
    const freshRoot = () => removePath(runtimeRoot);

    const tsbakC: Contestant = {
      command: `TSBAK_RUNTIME_ROOT=<new> tsbak restore latest --image ${big.name} --to runtime --json && tsbak runtime run --rm ${big.name} true`,
      before: freshRoot,
      run: async () => {
        const a = await rt.measure([...restoreArgs, '--to', 'runtime'], { stdoutFile: restoreOut });
        const b = await rt.measure(runArgs);
        tsbakSteps.restore.push(a);
        tsbakSteps.run.push(b);
        return combined(a, b);
      },
      after: async () => {
        await checkRestored(restoreOut, 'tsbak restore --to runtime');
        const images = JSON.parse(await rt.ok(['runtime', 'images', '--json'])) as RuntimeImageJson[];
        const img = images.find((i) => i.names.includes(big.name));
        if (!img) throw new Error(`after tsbak restore --to runtime, ${big.name} is not in the runtime (it has ${JSON.stringify(images.map((i) => i.names))}): figures discarded`);
        if (img.id !== big.id) throw new Error(`after tsbak restore --to runtime, ${big.name} has ID ${img.id}, not ${big.id}: figures discarded`);
        const left = JSON.parse(await rt.ok(['runtime', 'ps', '-a', '--json'])) as unknown[];
        if (left.length > 0) throw new Error(`tsbak runtime run --rm left ${left.length} container(s) behind: ${JSON.stringify(left)}`);
        if (facts.runtimeRootMiB === undefined) facts.runtimeRootMiB = (await diskBytes(runtimeRoot)) / MiB;
        await freshRoot();
      },
    };
    const removeBig = async () => {
      if ((await docker(host, ['image', 'inspect', big.name])).code === 0) await dockerOk(host, ['rmi', big.name]);
    };
    const dockerC: Contestant = {
      command: `tsbak restore latest --image ${big.name} --to docker --json && ${DOCKER_CLI} run --rm ${big.name} true`,
      before: removeBig,
      run: async () => {
        const a = await ctx.tsbak.measure([...restoreArgs, '--to', 'docker'], { stdoutFile: dockerRestoreOut });
        const b = await measure([DOCKER_CLI, 'run', '--rm', '--network', 'none', big.name, 'true'], measureOpts);
        dockerSteps.restore.push(a);
        dockerSteps.run.push(b);
        return combined(a, b);
      },
      after: async () => {
        await checkRestored(dockerRestoreOut, 'tsbak restore --to docker');
        const r = await docker(host, ['image', 'inspect', '--format', '{{.Id}}', big.name]);
        if (r.code !== 0) throw new Error(`after tsbak restore --to docker, ${big.name} is not on the engine: figures discarded`);
        if (r.stdout.trim() !== big.id) throw new Error(`after tsbak restore --to docker, ${big.name} has ID ${r.stdout.trim()}, not ${big.id}: figures discarded`);
        const left = (await dockerOk(host, ['ps', '-a', '-q', '--filter', `ancestor=${big.name}`])).trim();
        if (left) throw new Error(`docker run --rm left container(s) ${left.split('\n').join(', ')} behind`);
      },
    };

    t0 = Date.now();
    try {
      await sideBySide(1, [tsbakC, dockerC], log, 'runtime, warm-up');
      tsbakSteps.reset();
      dockerSteps.reset();
      const [t, d] = await sideBySide(ctx.reps, [tsbakC, dockerC], log, 'runtime');
      log(`runtime comparison took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const s: Record<string, Series> = {
        'tsbak-runtime': t!,
        'docker-engine': d!,
        'tsbak-restore-to-runtime': series(`tsbak restore latest --image ${big.name} --to runtime --json`, tsbakSteps.restore),
        'tsbak-runtime-run': series(`tsbak runtime run --rm ${big.name} true`, tsbakSteps.run),
        'tsbak-restore-to-docker': series(`tsbak restore latest --image ${big.name} --to docker --json`, dockerSteps.restore),
        'docker-run': series(`${DOCKER_CLI} run --rm --network none ${big.name} true`, dockerSteps.run),
      };
      const mib = Math.round(imageMiB);
      const rows: ResultRow[] = [
        compareRow({
          id: 'runtime.start',
          title: `runtime: ${mib} MiB snapshot to a container run, --to runtime + runtime run vs --to docker + docker run`,
          unit: 'ms',
          tsbak: t!.wallMs.median,
          peer: d!.wallMs.median,
          goal: { kind: 'ratio', max: 1.0 },
        }),
        compareRow({ id: 'runtime.restore', title: 'runtime: restore step, --to runtime vs --to docker', unit: 'ms', tsbak: s['tsbak-restore-to-runtime']!.wallMs.median, peer: s['tsbak-restore-to-docker']!.wallMs.median }),
        compareRow({ id: 'runtime.run', title: 'runtime: run step, tsbak runtime run --rm vs docker run --rm', unit: 'ms', tsbak: s['tsbak-runtime-run']!.wallMs.median, peer: s['docker-run']!.wallMs.median }),
        compareRow({ id: 'runtime.rss-restore', title: 'runtime: peak RSS, tsbak restore --to runtime', unit: 'MiB', tsbak: s['tsbak-restore-to-runtime']!.peakRssKiB.max / 1024, goal: { kind: 'absolute', max: RSS_GOAL_MIB } }),
        compareRow({ id: 'runtime.rss-run', title: 'runtime: peak RSS, tsbak runtime run (unpack at create)', unit: 'MiB', tsbak: s['tsbak-runtime-run']!.peakRssKiB.max / 1024, goal: { kind: 'absolute', max: RSS_GOAL_MIB } }),
      ];
      const result: ScenarioResult = { rows, series: s, facts };
      if (ctx.profileDir) {
        await freshRoot();
        const restoreProfile = await rt.profile([...restoreArgs.filter((a) => a !== '--json'), '--to', 'runtime'], ctx.profileDir, 'runtime-restore');
        const runProfile = await rt.profile(runArgs, ctx.profileDir, 'runtime-run');
        await freshRoot();
        const profiles: Record<string, ProfileSummary> = { 'restore-to-runtime': await summarizeProfile(restoreProfile), 'runtime-run': await summarizeProfile(runProfile) };
        for (const [name, p] of Object.entries(profiles)) log(describeProfile(name, p));
        result.profiles = profiles;
      }
      return result;
    } finally {
      await freshRoot();
      // Later scenarios expect the big fixture on the engine, as buildBigFixture left it.
      if ((await docker(host, ['image', 'inspect', big.name])).code !== 0) {
        await ctx.tsbak.ok(['restore', 'latest', '--image', big.name, '--repo', repo]).catch(() => undefined);
      }
      await removePath(repo);
    }
  },
};
