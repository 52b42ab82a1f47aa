import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack, type Header, type Pack } from 'tar-stream';

type Headers = Partial<Header> & Pick<Header, 'name'>;
import { tap } from '../../util/streams.js';
import { CorruptDataError } from '../../errors.js';
import { progress } from '../../util/progress.js';
import type { BlobSource, OpenOptions } from '../../repo/blob-store.js';
import { digestHex, sha256, type Digest } from '../../util/digest.js';
import { MediaType, type Descriptor, type ImageRecord, type Index, type Manifest } from '../model.js';
import { familiarRepository, fullName, parseReference } from '../reference.js';

/** Fixed metadata so the same images always give the same archive bytes. */
const EPOCH = new Date(0);
const FILE: Partial<Header> = { mode: 0o644, uid: 0, gid: 0, mtime: EPOCH };
const DIR: Partial<Header> = { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: EPOCH };

/** The OCI manifest tsbak derives for a record: uncompressed layers keyed by diffID, as `docker save` writes. */
export function ociManifest(image: ImageRecord): Manifest {
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: image.config, size: image.configSize },
    layers: image.layers.map((l) => ({ mediaType: MediaType.ociLayer, digest: l.diffID, size: l.size })),
  };
}

function blobName(digest: Digest): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/**
 * Write images as one tar holding both layouts, as Docker 25+ does: the OCI
 * image layout (oci-layout, index.json, blobs/sha256) and docker save's
 * manifest.json + repositories pointing into the same blobs. Layers stream
 * from the source one at a time; shared blobs are written once. `verify:
 * false` is for readers that check each layer against its diffID themselves.
 */
export async function writeImageArchive(images: ImageRecord[], source: BlobSource, out: Writable, options: OpenOptions = {}): Promise<number> {
  const pack = tarPack();
  let bytes = 0;
  const done = pipeline(
    pack,
    tap((chunk) => {
      bytes += chunk.length;
      progress.add(chunk.length);
    }),
    out,
  );
  try {
    await writeEntries(pack, images, source, options);
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => undefined);
    throw err;
  }
  await done;
  return bytes;
}

async function writeEntries(pack: Pack, images: ImageRecord[], source: BlobSource, options: OpenOptions): Promise<void> {
  await addBuffer(pack, { ...DIR, name: 'blobs/' });
  await addBuffer(pack, { ...DIR, name: 'blobs/sha256/' });
  await addBuffer(pack, { ...FILE, name: 'oci-layout' }, Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  const written = new Set<string>();
  for (const image of images) {
    if (!written.has(image.config)) {
      await addBuffer(pack, { ...FILE, name: blobName(image.config) }, await source.readBuffer(image.config));
      written.add(image.config);
    }
    for (const layer of image.layers) {
      if (written.has(layer.diffID)) continue;
      await addStream(pack, { ...FILE, name: blobName(layer.diffID), size: layer.size }, await source.open(layer.diffID, options));
      written.add(layer.diffID);
    }
  }
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  for (const image of images) {
    const body = Buffer.from(JSON.stringify(ociManifest(image)));
    const digest = sha256(body);
    if (!written.has(digest)) {
      await addBuffer(pack, { ...FILE, name: blobName(digest) }, body);
      written.add(digest);
    }
    const descriptor: Descriptor = { mediaType: MediaType.ociManifest, digest, size: body.length };
    if (image.names.length === 0) index.manifests.push(descriptor);
    for (const name of image.names) {
      const ref = parseReference(name);
      const annotations: Record<string, string> = { 'io.containerd.image.name': fullName(ref) };
      if (ref.tag) annotations['org.opencontainers.image.ref.name'] = ref.tag;
      index.manifests.push({ ...descriptor, annotations });
    }
  }
  await addBuffer(pack, { ...FILE, name: 'index.json' }, Buffer.from(JSON.stringify(index)));
  const manifest = images.map((image) => ({
    Config: blobName(image.config),
    RepoTags: image.names.length > 0 ? image.names : null,
    Layers: image.layers.map((l) => blobName(l.diffID)),
  }));
  await addBuffer(pack, { ...FILE, name: 'manifest.json' }, Buffer.from(JSON.stringify(manifest)));
  await addBuffer(pack, { ...FILE, name: 'repositories' }, Buffer.from(JSON.stringify(repositories(images))));
}

/** The legacy `repositories` file: repository → tag → top layer. */
function repositories(images: ImageRecord[]): Record<string, Record<string, string>> {
  const repos: Record<string, Record<string, string>> = {};
  for (const image of images) {
    const top = image.layers[image.layers.length - 1];
    if (!top) continue;
    for (const name of image.names) {
      const ref = parseReference(name);
      if (!ref.tag) continue;
      (repos[familiarRepository(ref)] ??= {})[ref.tag] = digestHex(top.diffID);
    }
  }
  return repos;
}

function addBuffer(pack: Pack, header: Headers, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(body ? { ...header, size: body.length } : header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
  });
}

function addStream(pack: Pack, header: Headers, body: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    // A body of another length than the header's fails the entry ("Size mismatch"): an error, never a crash.
    const fail = (err: Error) =>
      reject(/size mismatch/i.test(err.message) ? new CorruptDataError(`${header.name}: the stored content does not have the recorded size of ${header.size} bytes; run tsbak check --read-data`, { cause: err }) : err);
    const entry = pack.entry(header, (err) => (err ? fail(err) : resolve()));
    entry.on('error', fail);
    body.on('error', (err) => {
      entry.destroy(err);
      reject(err);
    });
    body.pipe(entry);
  });
}
