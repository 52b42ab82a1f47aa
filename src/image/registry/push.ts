import { mapLimitSettled } from '../../util/concurrency.js';
import { createReadStream } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import type { BlobSource } from '../../repo/blob-store.js';
import { CorruptDataError, UsageError, errorMessage } from '../../errors.js';
import { sha256, type Digest } from '../../util/digest.js';
import { MediaType, type Descriptor, type ImageRecord, type LayerRecord, type Manifest } from '../model.js';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import { layerCompressor, sessionCompressedDigests, spoolCompressed, type CompressedDigestCache, type LayerCompression } from './compress.js';

export type { LayerCompression } from './compress.js';

/** `docker`: Docker image manifest v2 schema 2 (what `docker push` writes); `oci`: OCI image manifest. */
export type ManifestFormat = 'docker' | 'oci';

export interface PushTarget {
  repository: string;
  tag: string;
}

export interface PushOptions {
  /** Layer compression for images without their original registry form (default gzip). */
  compression?: LayerCompression;
  /** Manifest format (default: docker for gzip, oci for zstd, which Docker's format cannot express). */
  format?: ManifestFormat;
  /** Layers pushed at once (default 2: compression takes a core each). */
  concurrency?: number;
  /** Directory for compressed layers waiting to be uploaded (default: the system temp dir). */
  tmpDir?: string;
  /** Push the original manifest and compressed layers of an image that came from a registry (default true). */
  keepOriginal?: boolean;
  /** Compressed digests of earlier pushes (default: this process's cache). */
  cache?: CompressedDigestCache;
  log?: (line: string) => void;
}

export interface PushResult {
  repository: string;
  tag: string;
  /** Digest of the manifest the tag now points to. */
  digest: Digest;
  mediaType: string;
  /** True when the image's original registry manifest and layer bytes were pushed. */
  original: boolean;
  /** Blobs (layers and config) by how they got there. */
  blobs: { uploaded: number; mounted: number; existing: number; uploadedBytes: number };
}

interface PushContext {
  client: RegistryClient;
  source: BlobSource;
  repository: string;
  stats: PushResult['blobs'];
  options: PushOptions;
}

/**
 * Push one image to `repository:tag`. Every blob is HEADed first and skipped
 * when present, mounted when this session saw it in another repository of the
 * same registry, else uploaded. An image pulled from a registry is pushed as
 * it was (original manifest, original compressed layers); any other image gets
 * its layers compressed on the fly and a new manifest.
 *
 * A compressed layer is spooled to a temp file before it is uploaded (one file
 * per layer in flight, deleted at once): its digest must be known before the
 * upload anyway, and knowing it first lets an existing blob be skipped after
 * compression alone (a re-push from a new process uploads nothing), lets the
 * upload carry a Content-Length (registries and proxies that refuse chunked
 * bodies), and lets a failed upload restart from the file.
 */
export async function pushImage(
  client: RegistryClient,
  record: ImageRecord,
  source: BlobSource,
  target: PushTarget,
  options: PushOptions = {},
): Promise<PushResult> {
  const compression = options.compression ?? 'gzip';
  const format = options.format ?? (compression === 'zstd' ? 'oci' : 'docker');
  if (format === 'docker' && compression === 'zstd') {
    throw new UsageError('zstd layers need an OCI manifest: use format "oci" (Docker\'s manifest format has no zstd media type)');
  }
  await client.ping();
  const ctx: PushContext = {
    client,
    source,
    repository: target.repository,
    stats: { uploaded: 0, mounted: 0, existing: 0, uploadedBytes: 0 },
    options,
  };

  const original = options.keepOriginal === false ? undefined : await originalManifest(record, source, options.log);
  if (original) {
    await pushConfig(ctx, record);
    await mapLimitSettled(
      original.layers,
      options.concurrency ?? 2,
      (d) => ensureBlob(ctx, d.digest as Digest, d.size, () => source.open(d.digest as Digest)),
    );
    const digest = await client.putManifest(target.repository, target.tag, original.bytes, original.mediaType);
    if (digest !== record.distribution?.manifest) {
      throw new CorruptDataError(`the stored manifest of ${record.names[0] ?? record.config} hashes to ${digest}, not ${record.distribution?.manifest}`);
    }
    return { ...target, digest, mediaType: original.mediaType, original: true, blobs: ctx.stats };
  }

  const configSize = await pushConfig(ctx, record);
  const cache = options.cache ?? sessionCompressedDigests;
  const layerType = layerMediaType(format, compression);
  // The same diffID twice in one image is compressed and pushed once.
  const inflight = new Map<Digest, Promise<{ digest: Digest; size: number }>>();
  const layers = await mapLimitSettled(record.layers, options.concurrency ?? 1, (layer) => {
    let p = inflight.get(layer.diffID);
    if (!p) inflight.set(layer.diffID, (p = pushLayer(ctx, layer, compression, cache)));
    return p;
  });
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest,
    config: { mediaType: format === 'oci' ? MediaType.ociConfig : MediaType.dockerConfig, digest: record.config, size: configSize },
    layers: layers.map((l): Descriptor => ({ mediaType: layerType, digest: l.digest, size: l.size })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 2));
  const mediaType = manifest.mediaType as string;
  const digest = await client.putManifest(target.repository, target.tag, bytes, mediaType);
  return { ...target, digest, mediaType, original: false, blobs: ctx.stats };
}

function layerMediaType(format: ManifestFormat, compression: LayerCompression): string {
  if (format === 'docker') return MediaType.dockerLayerGzip;
  return compression === 'gzip' ? MediaType.ociLayerGzip : MediaType.ociLayerZstd;
}

async function pushConfig(ctx: PushContext, record: ImageRecord): Promise<number> {
  const bytes = await ctx.source.readBuffer(record.config);
  await ensureBlob(ctx, record.config, bytes.length, async () => Readable.from([bytes]));
  return bytes.length;
}

/**
 * Make sure the repository has the blob: HEAD, else mount from another
 * repository of this registry we know has it, else upload from `open`.
 */
async function ensureBlob(ctx: PushContext, digest: Digest, size: number, open: () => Promise<Readable>): Promise<void> {
  if (await present(ctx, digest)) return;
  const mountFrom = ctx.client.mountSource(digest, ctx.repository);
  const how = await ctx.client.uploadBlob(ctx.repository, digest, size, open, mountFrom === undefined ? {} : { mountFrom });
  count(ctx, how, size);
}

async function present(ctx: PushContext, digest: Digest): Promise<boolean> {
  if ((await ctx.client.blobSize(ctx.repository, digest, 'pull,push')) === undefined) return false;
  ctx.stats.existing++;
  return true;
}

function count(ctx: PushContext, how: 'mounted' | 'uploaded', size: number): void {
  if (how === 'mounted') ctx.stats.mounted++;
  else {
    ctx.stats.uploaded++;
    ctx.stats.uploadedBytes += size;
  }
}

/**
 * One layer, compressed. With a compressed digest from earlier in this session
 * it is only HEADed (or mounted, or streamed straight from the compressor with
 * the known length); otherwise it is compressed into a temp file first.
 */
async function pushLayer(ctx: PushContext, layer: LayerRecord, compression: LayerCompression, cache: CompressedDigestCache): Promise<{ digest: Digest; size: number }> {
  const known = cache.get(layer.diffID, compression);
  if (known) {
    if (await present(ctx, known.digest)) return known;
    const mountFrom = ctx.client.mountSource(known.digest, ctx.repository);
    try {
      // Compression is deterministic, so the known digest and length hold for a fresh compression.
      // No SHA-256 of the layer on the way: the registry hashes the upload and refuses it unless it is
      // `known.digest`, which was computed from verified content; any other content is refused and the
      // layer is compressed anew below, from a verified read.
      const open = async () => compressedStream(await ctx.source.open(layer.diffID, { verify: false }), compression);
      const how = await ctx.client.uploadBlob(ctx.repository, known.digest, known.size, open, mountFrom === undefined ? {} : { mountFrom });
      count(ctx, how, known.size);
      return known;
    } catch (err) {
      if (!(err instanceof RegistryError) || err.kind !== 'rejected') throw err;
      ctx.options.log?.(`layer ${layer.diffID} did not compress to ${known.digest} again (${errorMessage(err)}); compressing it anew`);
    }
  }
  const spooled = await spoolCompressed(await ctx.source.open(layer.diffID), compression, ctx.options.tmpDir);
  try {
    const result = { digest: spooled.digest, size: spooled.size };
    cache.set(layer.diffID, compression, result);
    await ensureBlob(ctx, spooled.digest, spooled.size, async () => createReadStream(spooled.path));
    return result;
  } finally {
    await spooled.remove();
  }
}

/** `input` compressed; an error on either side (a corrupt blob) errors the result. */
function compressedStream(input: Readable, compression: LayerCompression): Readable {
  const out = layerCompressor(compression);
  pipeline(input, out, () => {});
  return out;
}

/**
 * The original manifest of an image pulled from a registry, when the
 * repository still holds it and every compressed layer it names; otherwise
 * undefined (and the image is pushed from its uncompressed layers).
 */
async function originalManifest(
  record: ImageRecord,
  source: BlobSource,
  log: ((line: string) => void) | undefined,
): Promise<{ bytes: Buffer; mediaType: string; layers: Descriptor[] } | undefined> {
  const dist = record.distribution;
  if (!dist) return undefined;
  const label = record.names[0] ?? record.config;
  const missing = [dist.manifest, ...dist.layers.map((l) => l.digest)].filter((d) => !hasBlob(source, d));
  if (missing.length > 0) {
    log?.(`${label}: the original registry form is incomplete in the repository (${missing.length} blob(s) missing); pushing recompressed layers`);
    return undefined;
  }
  const bytes = await source.readBuffer(dist.manifest);
  let doc: Manifest;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Manifest;
  } catch (err) {
    throw new CorruptDataError(`the stored manifest ${dist.manifest} of ${label} is not JSON: ${errorMessage(err)}`);
  }
  const layers = Array.isArray(doc.layers) ? doc.layers : [];
  const consistent =
    doc.config?.digest === record.config &&
    layers.length === dist.layers.length &&
    layers.every((l, i) => l.digest === dist.layers[i]?.digest) &&
    dist.layers.length === record.layers.length;
  if (!consistent) throw new CorruptDataError(`the stored manifest ${dist.manifest} of ${label} does not match the image record (config or layers differ)`);
  if (sha256(bytes) !== dist.manifest) throw new CorruptDataError(`the stored manifest of ${label} does not hash to ${dist.manifest}`);
  return { bytes, mediaType: dist.mediaType, layers };
}

/** Whether a source holds a blob (BlobStore has `has`; other sources throw from size()). */
export function hasBlob(source: BlobSource, digest: string): boolean {
  const withHas = source as BlobSource & { has?: (d: string) => boolean };
  if (typeof withHas.has === 'function') return withHas.has(digest);
  try {
    source.size(digest as Digest);
    return true;
  } catch {
    return false;
  }
}
