// Fixture images built locally, with nothing downloaded: a busybox rootfs imported as
// the base, and small images built FROM it with the legacy builder and no network.
import { createCipheriv, createHash } from 'node:crypto';
import { copyFileSync, createWriteStream, mkdirSync, mkdtempSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { docker, dockerOk } from './dockerd.js';
import { BUSYBOX } from './install.js';
import { run } from './util.js';

export interface FixtureImage {
  name: string;
  /** Image ID as the engine reports it (`sha256:…`). */
  id: string;
}

export interface Fixtures {
  base: FixtureImage;
  app: FixtureImage;
  tool: FixtureImage;
}

export const BASE_IMAGE = 'tsbak-fixture/base:1';
export const APP_IMAGE = 'tsbak-fixture/app:1';
export const TOOL_IMAGE = 'tsbak-fixture/tool:1';

const APPLETS = [
  'sh', 'cat', 'ls', 'echo', 'sleep', 'sha256sum', 'dd', 'head', 'tail', 'wc', 'mkdir', 'rm', 'cp', 'mv',
  'true', 'false', 'test', '[', 'env', 'find', 'stat', 'date', 'touch', 'od', 'seq', 'md5sum', 'sync',
  'du', 'grep', 'sed', 'ln', 'chmod', 'id', 'xargs', 'tr', 'kill', 'ps', 'printf', 'yes', 'cmp', 'tar',
  'readlink', 'sort', 'uniq', 'basename', 'dirname', 'truncate', 'hexdump',
];

const APP_DOCKERFILE = `FROM ${BASE_IMAGE}
RUN echo "hello from app" > /hello.txt
RUN mkdir -p /app/data/sub && echo one > /app/data/a.txt && seq 1 2000 > /app/data/numbers.txt \\
 && ln -s a.txt /app/data/link-to-a && echo two > /app/data/sub/b.txt && chmod 0600 /app/data/sub/b.txt
CMD ["cat", "/hello.txt"]
`;

const TOOL_DOCKERFILE = `FROM ${BASE_IMAGE}
RUN echo "hello from tool" > /tool.txt
RUN mkdir /tool && dd if=/dev/zero of=/tool/zeros bs=1024 count=64 2>/dev/null
CMD cat /tool.txt
`;

/** Writes a minimal root filesystem: static busybox, applet links, /etc/passwd. */
function writeBusyboxRootfs(root: string): void {
  for (const d of ['bin', 'dev', 'etc', 'proc', 'sys', 'root', 'var', 'tmp']) mkdirSync(path.join(root, d));
  chmodSync(path.join(root, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, path.join(root, 'bin/busybox'));
  chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const a of APPLETS) symlinkSync('busybox', path.join(root, 'bin', a));
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** Imports the busybox rootfs as `tsbak-fixture/base:1`; the layer is byte-identical on every run. */
export async function importBase(host: string): Promise<FixtureImage> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'tsbak-rootfs-'));
  try {
    const root = path.join(work, 'rootfs');
    mkdirSync(root);
    writeBusyboxRootfs(root);
    const tar = await run('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', '-', '.'], {
      encoding: 'buffer',
    });
    if (tar.code !== 0) throw new Error(`tar of the busybox rootfs failed: ${tar.stderr}`);
    await dockerOk(host, ['import', '--change', 'CMD ["sh"]', '-', BASE_IMAGE], { input: tar.stdout });
    return { name: BASE_IMAGE, id: await imageId(host, BASE_IMAGE) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function imageId(host: string, ref: string): Promise<string> {
  return (await dockerOk(host, ['image', 'inspect', '--format', '{{.Id}}', ref])).trim();
}

/** `docker build --network none` with the legacy builder; context is a directory, or none (Dockerfile on stdin). */
async function build(host: string, tag: string, dockerfile: string, contextDir?: string): Promise<FixtureImage> {
  const args = ['build', '--network', 'none', '--force-rm', '-q', '-t', tag];
  const r = contextDir
    ? await docker(host, [...args, '-f', '-', contextDir], { input: dockerfile })
    : await docker(host, [...args, '-'], { input: dockerfile });
  if (r.code !== 0) throw new Error(`docker build of ${tag} failed (exit ${r.code}):\n${r.stderr.trim()}\n${r.stdout.trim()}`);
  return { name: tag, id: await imageId(host, tag) };
}

/** Builds base, app and tool on the engine at `host` (app and tool share the base layer). */
export async function buildFixtures(host: string): Promise<Fixtures> {
  const base = await importBase(host);
  const [app, tool] = await Promise.all([build(host, APP_IMAGE, APP_DOCKERFILE), build(host, TOOL_IMAGE, TOOL_DOCKERFILE)]);
  return { base, app, tool };
}

// ---- the big image for benchmarks ----

type DataKind = 'random' | 'text' | 'mixed';

interface LayerPlan {
  share: number; // fraction of the total size
  kind: DataKind;
  files: number;
}

// Mixed compressible / incompressible layers, as real images have (binaries, text, assets).
const BIG_LAYERS: LayerPlan[] = [
  { share: 0.3, kind: 'random', files: 3 },
  { share: 0.25, kind: 'text', files: 2 },
  { share: 0.2, kind: 'mixed', files: 1 },
  { share: 0.15, kind: 'random', files: 16 },
  { share: 0.1, kind: 'text', files: 64 },
];

const CHUNK = 1 << 20;
const WORDS = 'alpha beta gamma delta epsilon layer image volume backup restore chunk index snapshot tsbak data'.split(' ');

/** Deterministic incompressible bytes: an AES-256-CTR keystream keyed by `seed`. */
function randomChunk(seed: string, index: number, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  // The chunk index sits above the 64-bit block counter, so chunks never share keystream.
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(index, 4);
  return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(size));
}

/** Deterministic text that compresses several times over (numbered lines of words), distinct per seed and chunk. */
function textChunk(seed: string, index: number, size: number): Buffer {
  let state = createHash('sha256').update(`${seed}/${index}`).digest().readUInt32BE(0);
  const lines: string[] = [];
  let len = 0;
  let n = index * 100_000;
  while (len < size) {
    const words: string[] = [];
    for (let i = 0; i < 8; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      words.push(WORDS[state % WORDS.length]!);
    }
    const line = `${String(n++).padStart(10, '0')} ${words.join(' ')}\n`;
    lines.push(line);
    len += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, size);
}

async function writeDataFile(file: string, size: number, kind: DataKind, seed: string): Promise<void> {
  const out = createWriteStream(file);
  for (let i = 0, done = 0; done < size; i++) {
    const n = Math.min(CHUNK, size - done);
    const random = kind === 'random' || (kind === 'mixed' && i % 2 === 0);
    const chunk = random ? randomChunk(seed, i, n) : textChunk(seed, i, n);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    done += n;
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

/** Writes layerN/ directories into `ctx` and returns the Dockerfile that COPYs them. */
async function writeBigContext(ctx: string, totalMB: number): Promise<string> {
  const total = totalMB * 1024 * 1024;
  const lines = [`FROM ${BASE_IMAGE}`];
  for (const [i, layer] of BIG_LAYERS.entries()) {
    const dir = path.join(ctx, `layer${i + 1}`);
    mkdirSync(dir);
    const perFile = Math.max(1, Math.floor((total * layer.share) / layer.files));
    for (let f = 0; f < layer.files; f++) {
      await writeDataFile(path.join(dir, `${layer.kind}-${f}.bin`), perFile, layer.kind, `tsbak-big/${i}/${f}`);
    }
    lines.push(`COPY layer${i + 1} /data/layer${i + 1}`);
  }
  lines.push('CMD ["du", "-s", "/data"]');
  return `${lines.join('\n')}\n`;
}

/**
 * An image of about `totalMB` MiB in five layers of mixed random and text data
 * (about 55 % incompressible), built FROM the base. File contents are the same on
 * every run, layer digests are not (the builder stamps directory times); when the
 * tag already exists on the engine it is reused. 256 MiB take about 10 s here.
 */
export async function buildBigFixture(host: string, totalMB: number): Promise<FixtureImage> {
  const tag = `tsbak-fixture/big:${totalMB}m`;
  const existing = await docker(host, ['image', 'inspect', '--format', '{{.Id}}', tag]);
  if (existing.code === 0) return { name: tag, id: existing.stdout.trim() };
  if ((await docker(host, ['image', 'inspect', BASE_IMAGE])).code !== 0) await importBase(host);
  const ctx = mkdtempSync(path.join(os.tmpdir(), 'tsbak-big-'));
  try {
    const dockerfile = await writeBigContext(ctx, totalMB);
    return await build(host, tag, dockerfile, ctx);
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}
