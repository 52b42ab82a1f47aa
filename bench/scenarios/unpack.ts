// Scenario `unpack`: the built-in runtime's layer unpacker against `umoci unpack`.
//
//   applyLayer of each layer of the big fixture (from docker save, uncompressed)   vs
//   umoci unpack --image layout:img bundle (the same layers, uncompressed, in an OCI layout)   goal ratio <= 1.0
//   peak RSS of the unpack                                                                     info
//
// Both read the same uncompressed layer tars from the same disk and write onto it. umoci
// also verifies each blob's digest and writes an mtree manifest of the rootfs (hashing every
// file); the tsbak row includes a sha256 of each layer stream, as the runtime checks diffIDs.
// The tsbak side runs this very file as a program: `node unpack.js --unpack DIR ROOT`; with
// --cpu-prof it runs once more under `node --cpu-prof`.
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, realpathSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext, Scenario, ScenarioResult } from '../lib/scenario.js';
import type { Contestant } from '../lib/stats.js';

const THIS_FILE = fileURLToPath(import.meta.url);

interface SavedManifest {
  Config: string;
  Layers: string[];
}

/** Writes an OCI image layout with the docker save's layers as they are (uncompressed) at `layout`. */
function writePlainLayout(saveDir: string, layout: string): void {
  const blobs = path.join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const manifest = (JSON.parse(readFileSync(path.join(saveDir, 'manifest.json'), 'utf8')) as SavedManifest[])[0] as SavedManifest;
  const put = (file: string) => {
    const data = readFileSync(file);
    const digest = createHash('sha256').update(data).digest('hex');
    copyFileSync(file, path.join(blobs, digest));
    return { digest: `sha256:${digest}`, size: data.length };
  };
  const putBytes = (data: Buffer) => {
    const digest = createHash('sha256').update(data).digest('hex');
    writeFileSync(path.join(blobs, digest), data);
    return { digest: `sha256:${digest}`, size: data.length };
  };
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', ...put(path.join(saveDir, manifest.Config)) };
  const layers = manifest.Layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...put(realpathSync(path.join(saveDir, l))) }));
  const m = putBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers })));
  writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': 'img' } }] }),
  );
  writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
}

/** The tsbak side: applies the layers of the extracted docker save at `saveDir` onto `root`, hashing each stream. */
async function unpackMain(saveDir: string, root: string): Promise<void> {
  const { applyLayer } = await import('../../src/runtime/unpack/index.js');
  const manifest = (JSON.parse(readFileSync(path.join(saveDir, 'manifest.json'), 'utf8')) as SavedManifest[])[0] as SavedManifest;
  mkdirSync(root, { recursive: true });
  for (const [i, l] of manifest.Layers.entries()) {
    const hash = createHash('sha256');
    const stream = createReadStream(path.join(saveDir, l), { highWaterMark: 1 << 20 });
    stream.on('data', (c) => hash.update(c as Buffer));
    await applyLayer(root, stream, { label: `layer ${i + 1} of the big fixture` });
    hash.digest();
  }
}

export const unpackScenario: Scenario = {
  name: 'unpack',
  describe: 'unpacking the big fixture\'s layers into a rootfs (built-in runtime) against umoci unpack',

  async run(ctx: BenchContext): Promise<ScenarioResult> {
    // Loaded here, not at the top: the `--unpack` program below (the timed side) loads only the unpacker.
    const { buildBigFixture } = await import('../../test/env/fixtures.js');
    const { dockerOk } = await import('../../test/env/dockerd.js');
    const { run } = await import('../../test/env/util.js');
    const { measure } = await import('../lib/measure.js');
    const { removePath } = await import('../lib/files.js');
    const { compareRow } = await import('../lib/scenario.js');
    const { sideBySide } = await import('../lib/stats.js');
    const { workDir, log } = ctx;
    const big = await buildBigFixture(ctx.engine.host, ctx.sizeMB);
    const saveTar = path.join(workDir, 'unpack-save.tar');
    const saveDir = path.join(workDir, 'unpack-save');
    const layout = path.join(workDir, 'unpack-layout');
    const out = path.join(workDir, 'unpack-out');
    await dockerOk(ctx.engine.host, ['save', '-o', saveTar, big.name]);
    mkdirSync(saveDir, { recursive: true });
    const x = await run('tar', ['-xf', saveTar, '-C', saveDir]);
    if (x.code !== 0) throw new Error(`tar -xf of the docker save failed: ${x.stderr}`);
    await removePath(saveTar);
    writePlainLayout(saveDir, layout);
    const opts = { env: ctx.env, scratch: workDir };
    try {
      const clean = () => removePath(out);
      const tsbakC: Contestant = {
        command: `node dist/bench/scenarios/unpack.js --unpack <docker save dir> <rootfs> (applyLayer per layer, sha256 of each)`,
        before: clean,
        run: () => measure([process.execPath, THIS_FILE, '--unpack', saveDir, path.join(out, 'rootfs')], opts),
        after: clean,
      };
      const umociC: Contestant = {
        command: 'umoci unpack --image <layout>:img <bundle> (uncompressed layers)',
        before: clean,
        run: () => measure(['umoci', 'unpack', '--image', `${layout}:img`, out], opts),
        after: clean,
      };
      await sideBySide(1, [tsbakC, umociC], log, 'unpack, warm-up');
      const [t, u] = await sideBySide(ctx.reps, [tsbakC, umociC], log, 'unpack');
      const result: ScenarioResult = {
        rows: [],
        series: { 'tsbak-unpack': t!, 'umoci-unpack': u! },
        facts: { image: big.name, layers: 'uncompressed tars from docker save, the same bytes for both' },
      };
      if (ctx.profileDir) {
        const { describeProfile, summarizeProfile } = await import('../lib/cpuprofile.js');
        await clean();
        mkdirSync(ctx.profileDir, { recursive: true });
        const name = 'unpack.cpuprofile';
        const r = await run(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`, `--cpu-prof-name=${name}`, THIS_FILE, '--unpack', saveDir, path.join(out, 'rootfs')], { env: ctx.env, timeoutMs: 600_000 });
        if (r.code !== 0) throw new Error(`the profiled unpack exited ${r.code}: ${r.stderr.trim()}`);
        const summary = await summarizeProfile(path.join(ctx.profileDir, name));
        log(describeProfile('unpack', summary));
        result.profiles = { unpack: summary };
        await clean();
      }
      result.rows = [
        compareRow({ id: 'unpack.image', title: `unpack: ${big.name} into a rootfs vs umoci unpack`, unit: 'ms', tsbak: t!.wallMs.median, peer: u!.wallMs.median, goal: { kind: 'ratio', max: 1.0 } }),
        compareRow({ id: 'unpack.rss', title: 'unpack: peak RSS', unit: 'MiB', tsbak: t!.peakRssKiB.max / 1024, peer: u!.peakRssKiB.max / 1024 }),
      ];
      return result;
    } finally {
      await removePath(out);
      await removePath(saveDir);
      await removePath(layout);
    }
  },
};

if (process.argv[1] === THIS_FILE && process.argv[2] === '--unpack') {
  unpackMain(process.argv[3] as string, process.argv[4] as string).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
