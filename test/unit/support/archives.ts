import { access } from '../../repo-access.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { LocalBackend } from '../../../src/repo/backend/local.js';
import { Repository } from '../../../src/repo/repository.js';
import { sha256 } from '../../../src/util/digest.js';

/** Build a tar in memory from [name, content] pairs (test data only: small). */
export async function makeTar(entries: { name: string; body?: Buffer | string; type?: 'file' | 'symlink' | 'directory'; linkname?: string }[]): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      const type = e.type ?? 'file';
      const header = { name: e.name, type, mode: 0o644, ...(e.linkname ? { linkname: e.linkname } : {}) };
      if (type === 'file') pack.entry(header, Buffer.from(e.body ?? ''), done);
      else pack.entry(header, done).end(Buffer.alloc(0));
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

export interface FakeImage {
  layers: Buffer[];
  config: Buffer;
  configDigest: string;
  diffIDs: string[];
}

/** An image of `n` small layers, each a tar holding one file. */
export async function fakeImage(label: string, n: number): Promise<FakeImage> {
  const layers: Buffer[] = [];
  for (let i = 0; i < n; i++) layers.push(await makeTar([{ name: `${label}-${i}.txt`, body: `${label} layer ${i}\n`.repeat(100) }]));
  const diffIDs = layers.map((l) => sha256(l));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIDs } }));
  return { layers, config, configDigest: sha256(config), diffIDs };
}

const hex = (d: string) => d.slice('sha256:'.length);

/** A legacy (Docker ≤ 24) docker save archive. */
export async function legacySaveArchive(images: { image: FakeImage; tags: string[] }[]): Promise<Buffer> {
  const entries: { name: string; body: Buffer | string }[] = [];
  const manifest = images.map(({ image, tags }) => {
    const layerPaths = image.layers.map((layer, i) => {
      const dir = hex(sha256(`${image.configDigest}-${i}`));
      entries.push({ name: `${dir}/layer.tar`, body: layer }, { name: `${dir}/VERSION`, body: '1.0' });
      return `${dir}/layer.tar`;
    });
    entries.push({ name: `${hex(image.configDigest)}.json`, body: image.config });
    return { Config: `${hex(image.configDigest)}.json`, RepoTags: tags, Layers: layerPaths };
  });
  entries.push({ name: 'manifest.json', body: JSON.stringify(manifest) });
  return makeTar(entries);
}

/** An OCI image layout archive with gzip-compressed layers (as skopeo writes). */
export async function ociArchive(image: FakeImage, name: string): Promise<Buffer> {
  const gz = image.layers.map((l) => gzipSync(l));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: image.configDigest, size: image.config.length },
      layers: gz.map((g) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(g), size: g.length })),
    }),
  );
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha256(manifest),
        size: manifest.length,
        annotations: { 'io.containerd.image.name': name },
      },
    ],
  };
  return makeTar([
    { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
    ...gz.map((g) => ({ name: `blobs/sha256/${hex(sha256(g))}`, body: g })),
    { name: `blobs/sha256/${hex(image.configDigest)}`, body: image.config },
    { name: `blobs/sha256/${hex(sha256(manifest))}`, body: manifest },
    { name: 'index.json', body: JSON.stringify(index) },
  ]);
}

/** A fresh repository in a temp dir, removed by the returned cleanup. */
export async function tempRepository(): Promise<{ repo: Repository; dir: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsbak-unit-'));
  const repo = await Repository.init(new LocalBackend(join(dir, 'repo')), access);
  return { repo, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
