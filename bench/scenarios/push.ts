// Scenario `push`: pushing the images of a snapshot to a registry against `skopeo copy`.
//
//   tsbak restore latest --to registry://HOST/nsN   vs  skopeo copy docker-archive:set.tar:IMG
//                                                          docker://HOST/nsM/IMG (per image)   goal ratio <= 1.0
//   (info) vs skopeo copy --dest-compress-level 1 (the gzip level tsbak uses)
//   second push of the same snapshot to the same place (nothing to upload)       info
//   peak RSS of the push                                                          goal <= 200 MiB
//
// A distribution registry (Debian docker-registry, test/env startRegistry) runs on loopback,
// started untimed. Every first push goes to a repository path nobody pushed to before, so every
// blob is uploaded: tsbak mounts across repositories only within one process, and skopeo's
// persistent blob-info cache (/var/lib/containers/cache, which would let it mount blobs from
// an earlier run's repository) is replaced by an empty directory per run, bind-mounted in a
// private mount namespace (unshare -m). Compression: both gzip; tsbak level 1 (its default,
// parallel 1 MiB blocks), skopeo its default level (pgzip, DefaultCompression).
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { startRegistry, type Registry } from '../../test/env/registry.js';
import { measure } from '../lib/measure.js';
import { diskBytes, MiB, removePath } from '../lib/files.js';
import { compareRow, type BenchContext, type ResultRow, type Scenario, type ScenarioResult } from '../lib/scenario.js';
import { sideBySide, type Contestant, type Series } from '../lib/stats.js';
import { backupImageSet, buildImageSet, saveImageSet, shellQuote, type ImageSet } from '../lib/imageset.js';
import { readJson } from '../lib/volumes.js';
import { describeProfile, summarizeProfile, type ProfileSummary } from '../lib/cpuprofile.js';

const RSS_GOAL_MIB = 200;
const SKOPEO = '/usr/bin/skopeo';
const SKOPEO_CACHE = '/var/lib/containers/cache';
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

interface RestoreJson {
  items: { kind: string; name: string; action: string; status: string; detail?: string }[];
}

/** `tsbak-fixture/big:320m` → `big:320m`: where a push to a namespace puts it (its last path component). */
function lastComponent(image: string): { name: string; tag: string } {
  const slash = image.lastIndexOf('/');
  const [name, tag] = image.slice(slash + 1).split(':');
  return { name: name!, tag: tag ?? 'latest' };
}

/** The blobs a tsbak push reports per image ("N blob(s) uploaded, M mounted, K already there"). */
function uploadedBlobs(doc: RestoreJson): { uploaded: number; existing: number } {
  let uploaded = 0;
  let existing = 0;
  for (const item of doc.items) {
    if (item.status !== 'done') throw new Error(`tsbak push of ${item.name} ${item.status}: ${item.detail ?? ''}`);
    const m = /(\d+) blob\(s\) uploaded, (\d+) mounted, (\d+) already there/.exec(item.detail ?? '');
    if (!m) throw new Error(`tsbak push of ${item.name}: cannot read its counts from "${item.detail}"`);
    uploaded += Number(m[1]);
    existing += Number(m[3]);
  }
  return { uploaded, existing };
}

/** Sum of the layer sizes of every image of the set under `namespace`: what was pushed; throws when one is missing. */
async function pushedBytes(registry: Registry, namespace: string, set: ImageSet): Promise<number> {
  let total = 0;
  for (const image of set.images) {
    const { name, tag } = lastComponent(image);
    const res = await fetch(`${registry.url}/v2/${namespace}/${name}/manifests/${tag}`, { headers: { Accept: MANIFEST_TYPES } });
    if (res.status !== 200) throw new Error(`${registry.hostPort}/${namespace}/${name}:${tag} is not in the registry (HTTP ${res.status}): figures discarded`);
    const manifest = (await res.json()) as { layers?: { size: number }[] };
    total += (manifest.layers ?? []).reduce((n, l) => n + l.size, 0);
  }
  return total;
}

export const pushScenario: Scenario = {
  name: 'push',
  describe: 'push of a snapshot\'s images to a registry against skopeo copy docker-archive: docker://; second push',

  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const { tsbak, workDir, log } = ctx;
    const measureOpts = { env: ctx.env, scratch: workDir };
    const set = await buildImageSet(ctx);
    const repo = path.join(workDir, 'repo');
    const tar = path.join(workDir, 'set.tar');
    const out = path.join(workDir, 'push.json');
    await backupImageSet(ctx, set, repo);
    await saveImageSet(ctx, set, tar);
    const registry = await startRegistry(workDir);
    const host = registry.hostPort;
    log(`registry ${registry.url}; set.tar ${((await diskBytes(tar)) / MiB).toFixed(1)} MiB`);

    try {
      let n = 0;
      let tsbakNs = '';
      const bytes = { tsbak: 0, skopeo: 0, skopeoLevel1: 0 };
      const pushTsbak = (ns: string) => tsbak.measure(['restore', 'latest', '--to', `registry://${host}/${ns}`, '--repo', repo, '--json'], { stdoutFile: out });
      /** skopeo copy of every image of the set, one after the other, with `cache` as its blob-info cache. */
      const skopeoArgv = (ns: string, cache: string, extra: string[]) => {
        const copies = set.images.map((image) => {
          const { name, tag } = lastComponent(image);
          return [SKOPEO, 'copy', '-q', '--dest-tls-verify=false', ...extra, `docker-archive:${tar}:${image}`, `docker://${host}/${ns}/${name}:${tag}`].map(shellQuote).join(' ');
        });
        const script = `set -e; mkdir -p ${SKOPEO_CACHE}; mount --bind ${shellQuote(cache)} ${SKOPEO_CACHE}; ${copies.join('; ')}`;
        return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script];
      };
      const cacheDir = (ns: string) => {
        const dir = path.join(workDir, 'skopeo-cache', ns);
        mkdirSync(dir, { recursive: true });
        return dir;
      };

      // ---- first push to a fresh repository path ----
      const tsbakC: Contestant = {
        command: `tsbak restore latest --to registry://${host}/tsbakN --repo <repository> --json`,
        before: async () => {
          n++;
          tsbakNs = `tsbak${n}`;
        },
        run: () => pushTsbak(tsbakNs),
        after: async () => {
          const u = uploadedBlobs(await readJson<RestoreJson>(out));
          if (u.uploaded < set.images.length) throw new Error(`tsbak's first push to ${tsbakNs} uploaded ${u.uploaded} blobs: figures discarded`);
          bytes.tsbak = await pushedBytes(registry, tsbakNs, set);
        },
      };
      const skopeoC: Contestant = {
        command: `skopeo copy --dest-tls-verify=false docker-archive:set.tar:IMAGE docker://${host}/skopeoN/IMAGE (each image; empty blob-info cache)`,
        run: () => measure(skopeoArgv(`skopeo${n}`, cacheDir(`skopeo${n}`), []), measureOpts),
        after: async () => {
          bytes.skopeo = await pushedBytes(registry, `skopeo${n}`, set);
          // The run must have used the empty cache it was given, not the host's.
          if (!existsSync(path.join(cacheDir(`skopeo${n}`), 'blob-info-cache-v1.boltdb'))) throw new Error(`skopeo did not write its blob-info cache into ${cacheDir(`skopeo${n}`)}: was the bind mount bypassed?`);
        },
      };
      const skopeo1C: Contestant = {
        command: `skopeo copy --dest-tls-verify=false --dest-compress-level 1 docker-archive:set.tar:IMAGE docker://${host}/skopeo-l1-N/IMAGE`,
        run: () => measure(skopeoArgv(`skopeo-l1-${n}`, cacheDir(`skopeo-l1-${n}`), ['--dest-compress-level', '1']), measureOpts),
        after: async () => {
          bytes.skopeoLevel1 = await pushedBytes(registry, `skopeo-l1-${n}`, set);
        },
      };
      let t0 = Date.now();
      const first = [tsbakC, skopeoC, skopeo1C];
      await sideBySide(1, first, log, 'first push, warm-up');
      const [tPush, sPush, s1Push] = await sideBySide(ctx.reps, first, log, 'first push');
      log(`first push comparison took ${((Date.now() - t0) / 1000).toFixed(1)} s; pushed: tsbak ${(bytes.tsbak / MiB).toFixed(1)} MiB, skopeo ${(bytes.skopeo / MiB).toFixed(1)} MiB, skopeo level 1 ${(bytes.skopeoLevel1 / MiB).toFixed(1)} MiB`);

      // ---- second push of the same snapshot to the same place: nothing to upload ----
      const lastN = n;
      const again: Contestant = {
        command: `tsbak restore latest --to registry://${host}/tsbak${lastN} --repo <repository> --json (again)`,
        run: () => pushTsbak(`tsbak${lastN}`),
        after: async () => {
          const u = uploadedBlobs(await readJson<RestoreJson>(out));
          if (u.uploaded !== 0) throw new Error(`the second push uploaded ${u.uploaded} blobs again`);
        },
      };
      const skopeoAgain: Contestant = {
        command: `skopeo copy … docker://${host}/skopeo${lastN}/IMAGE (again, with its blob-info cache of the first push)`,
        run: () => measure(skopeoArgv(`skopeo${lastN}`, cacheDir(`skopeo${lastN}`), []), measureOpts),
      };
      t0 = Date.now();
      await sideBySide(1, [again, skopeoAgain], log, 'second push, warm-up');
      const [tAgain, sAgain] = await sideBySide(ctx.reps, [again, skopeoAgain], log, 'second push');
      log(`second push comparison took ${((Date.now() - t0) / 1000).toFixed(1)} s`);

      const series: Record<string, Series> = { 'tsbak-push': tPush!, 'skopeo-copy': sPush!, 'skopeo-copy-level1': s1Push!, 'tsbak-push-again': tAgain!, 'skopeo-copy-again': sAgain! };
      const rows: ResultRow[] = [
        compareRow({ id: 'push.first', title: 'push: to a new repository vs skopeo copy (gzip default level)', unit: 'ms', tsbak: tPush!.wallMs.median, peer: sPush!.wallMs.median, goal: { kind: 'ratio', max: 1.0 } }),
        compareRow({ id: 'push.first-level1', title: 'push: vs skopeo copy --dest-compress-level 1', unit: 'ms', tsbak: tPush!.wallMs.median, peer: s1Push!.wallMs.median }),
        compareRow({ id: 'push.again', title: 'push: again to the same place (0 blobs uploaded) vs skopeo copy again', unit: 'ms', tsbak: tAgain!.wallMs.median, peer: sAgain!.wallMs.median }),
        compareRow({ id: 'push.bytes', title: 'push: layer bytes pushed vs skopeo copy', unit: 'MiB', tsbak: bytes.tsbak / MiB, peer: bytes.skopeo / MiB }),
        compareRow({ id: 'push.rss', title: 'push: peak RSS', unit: 'MiB', tsbak: tPush!.peakRssKiB.max / 1024, peer: sPush!.peakRssKiB.max / 1024, goal: { kind: 'absolute', max: RSS_GOAL_MIB } }),
      ];
      const facts: Record<string, unknown> = {
        images: set.images,
        registry: 'Debian docker-registry (distribution 2.8), filesystem storage, on loopback',
        skopeo: 'Debian skopeo; gzip at its default level unless said; blob-info cache emptied per first push (unshare -m + bind mount)',
        tsbakCompression: 'gzip level 1, parallel 1 MiB blocks (src/image/registry/compress.ts)',
        pushedMiB: { tsbak: bytes.tsbak / MiB, skopeo: bytes.skopeo / MiB, skopeoLevel1: bytes.skopeoLevel1 / MiB },
      };
      const result: ScenarioResult = { rows, series, facts };
      if (ctx.profileDir) {
        const file = await tsbak.profile(['restore', 'latest', '--to', `registry://${host}/profile`, '--repo', repo], ctx.profileDir, 'push-registry');
        const summary: ProfileSummary = await summarizeProfile(file);
        log(describeProfile('push', summary));
        result.profiles = { push: summary };
      }
      return result;
    } finally {
      await registry.stop();
      await removePath(repo);
      await removePath(tar);
      await removePath(path.join(workDir, 'skopeo-cache'));
    }
  },
};
