import { mapLimitSettled } from '../../util/concurrency.js';
import { PassThrough, Readable } from 'node:stream';
import type { StagedBlob } from '../../repo/blob-store.js';
import type { BlobKind } from '../../repo/blob-index.js';
import type { ArchiveSink } from '../archive/reader.js';
import { CorruptDataError, NotFoundError, errorMessage } from '../../errors.js';
import { isDigest, type Digest } from '../../util/digest.js';
import { MediaType, type Descriptor, type DistributionRecord, type ImageConfig, type ImageRecord, type Index, type Manifest } from '../model.js';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';

/** What to pull: a repository of the client's registry and a tag or digest. */
export interface PullReference {
  repository: string;
  tag?: string;
  digest?: Digest;
}

export interface PullOptions {
  /** Platform to pick from an index (default: linux and this host's architecture). */
  platform?: { os: string; architecture: string; variant?: string };
  /** Layers downloaded at once (default 2). */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface PullResult {
  record: ImageRecord;
  /** Staged blobs to commit (one per digest): config, manifest, uncompressed layers by diffID, compressed layers by their own digest. */
  blobs: { staged: StagedBlob; kind: BlobKind }[];
  /** Compressed bytes downloaded. */
  downloadedBytes: number;
}

const DOCUMENT_LIMIT = 16 << 20;
/** Layer media types whose bytes are the plain tar (nothing to keep besides the diffID blob). */
const PLAIN_LAYER_TYPES = new Set<string>([MediaType.ociLayer, MediaType.dockerLayer, 'application/vnd.oci.image.layer.nondistributable.v1.tar']);
const SCHEMA1_TYPES = new Set(['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws']);

/**
 * Pull one image into the sink: the manifest (through an index or manifest
 * list to this host's platform), the config, and every layer streamed twice
 * into the sink at once: decompressed (stored under its diffID, checked against
 * the config's diff_ids) and as received (stored under the manifest's
 * digest, checked against it), so a re-push sends the same bytes. The original
 * manifest is kept as well. Blobs the sink has are not downloaded again. On any
 * error, everything staged is discarded.
 */
export async function pullImage(client: RegistryClient, ref: PullReference, sink: ArchiveSink, options: PullOptions = {}): Promise<PullResult> {
  const puller = new Puller(client, ref, sink, options);
  try {
    return await puller.run();
  } catch (err) {
    await puller.discardAll();
    throw err;
  }
}

class Puller {
  private readonly staged: { staged: StagedBlob; kind: BlobKind }[] = [];
  private downloaded = 0;
  private readonly label: string;

  constructor(
    private readonly client: RegistryClient,
    private readonly ref: PullReference,
    private readonly sink: ArchiveSink,
    private readonly options: PullOptions,
  ) {
    this.label = `${client.host}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;
  }

  async discardAll(): Promise<void> {
    await Promise.all(this.staged.map((s) => this.sink.discard(s.staged)));
    this.staged.length = 0;
  }

  async run(): Promise<PullResult> {
    const { repository } = this.ref;
    const reference = this.ref.digest ?? this.ref.tag ?? 'latest';
    let fetched = await this.client.getManifest(repository, reference);
    let indexDigest: Digest | undefined;
    let doc = this.parse<Manifest & Index & { schemaVersion?: number }>(fetched.bytes, `manifest ${fetched.digest}`);
    if (isIndex(fetched.mediaType, doc)) {
      indexDigest = fetched.digest;
      const chosen = this.pickPlatform(doc.manifests ?? []);
      this.options.log?.(`${this.label}: index ${fetched.digest}, picking ${platformLabel(chosen)} manifest ${chosen.digest}`);
      fetched = await this.client.getManifest(repository, chosen.digest);
      doc = this.parse(fetched.bytes, `manifest ${fetched.digest}`);
      if (isIndex(fetched.mediaType, doc)) throw new RegistryError('protocol', `${this.label}: the index entry ${chosen.digest} is another index; nested indexes are not supported`);
    }
    if (SCHEMA1_TYPES.has(fetched.mediaType) || doc.schemaVersion === 1) {
      throw new RegistryError('rejected', `${this.label} has a schema 1 manifest, which tsbak does not read; push it again with a current docker or skopeo`);
    }
    if (!doc.config || !isDigest(doc.config.digest) || !Array.isArray(doc.layers)) {
      throw new CorruptDataError(`${this.label}: manifest ${fetched.digest} (${fetched.mediaType || 'no media type'}) lacks a config or layers`);
    }

    const configBytes = await this.config(doc.config);
    const config = this.parse<ImageConfig>(configBytes, `config ${doc.config.digest}`);
    const diffIDs = config.rootfs?.diff_ids ?? [];
    if (diffIDs.length !== doc.layers.length) {
      throw new CorruptDataError(`${this.label}: the manifest lists ${doc.layers.length} layers but the config has ${diffIDs.length} diff_ids`);
    }
    const layers = await mapLimitSettled(doc.layers, this.options.concurrency ?? 2, (desc, i) => this.layer(desc, diffIDs[i] as string, i));
    await this.keep(fetched.bytes, fetched.digest, 'manifest');

    const distribution: DistributionRecord = {
      manifest: fetched.digest,
      mediaType: fetched.mediaType,
      layers: doc.layers.map((d) => ({ digest: d.digest as Digest, mediaType: d.mediaType, size: d.size })),
    };
    const name = this.name();
    const record: ImageRecord = {
      names: this.ref.tag !== undefined && this.ref.digest === undefined ? [`${name}:${this.ref.tag}`] : [],
      repoDigests: [`${name}@${indexDigest ?? fetched.digest}`],
      config: doc.config.digest,
      configSize: configBytes.length,
      layers,
      distribution,
    };
    if (config.os) record.os = config.os;
    if (config.architecture) record.architecture = config.architecture;
    const blobs = [...this.staged];
    this.staged.length = 0;
    return { record, blobs, downloadedBytes: this.downloaded };
  }

  /** `host/repo` in Docker's familiar form (`docker.io/library/x` → `x`). */
  private name(): string {
    const host = this.client.host;
    if (host === 'docker.io' || host === 'index.docker.io') {
      return this.ref.repository.startsWith('library/') ? this.ref.repository.slice('library/'.length) : this.ref.repository;
    }
    return `${host}/${this.ref.repository}`;
  }

  private parse<T>(bytes: Buffer, what: string): T {
    try {
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch (err) {
      throw new CorruptDataError(`${this.label}: ${what} is not valid JSON (${errorMessage(err)})`);
    }
  }

  private pickPlatform(manifests: Descriptor[]): Descriptor {
    const want = this.options.platform ?? { os: 'linux', architecture: hostArchitecture() };
    const images = manifests.filter((m) => m.platform?.architecture !== 'unknown');
    const match = images.filter((m) => m.platform?.os === want.os && m.platform.architecture === want.architecture);
    const exact = want.variant ? match.find((m) => m.platform?.variant === want.variant) : undefined;
    const chosen = exact ?? match[0];
    if (!chosen) {
      const offered = images.map(platformLabel).join(', ') || 'nothing';
      throw new NotFoundError(`${this.label} has no ${want.os}/${want.architecture} image (it offers ${offered})`);
    }
    if (!isDigest(chosen.digest)) throw new CorruptDataError(`${this.label}: index entry "${chosen.digest}" is not a sha256 digest`);
    return chosen;
  }

  /** The config's bytes: from the sink when present, else downloaded, verified and staged. */
  private async config(desc: Descriptor): Promise<Buffer> {
    const digest = desc.digest as Digest;
    if (this.sink.has(digest)) return this.sink.readBuffer(digest);
    const { stream } = await this.client.getBlob(this.ref.repository, digest);
    const staged = await this.sink.stage(stream, { sizeHint: desc.size });
    this.staged.push({ staged, kind: 'config' });
    this.downloaded += staged.rawSize;
    if (staged.digest !== digest) throw new CorruptDataError(`${this.label}: config ${digest} from ${this.client.host} hashes to ${staged.digest}`);
    return this.sink.readStaged(staged, DOCUMENT_LIMIT);
  }

  /** One layer: skipped when both its forms are in the sink, else downloaded once into both. */
  private async layer(desc: Descriptor, diffID: string, i: number): Promise<{ diffID: Digest; size: number }> {
    const what = `layer ${i + 1} of ${this.label}`;
    if (!isDigest(diffID)) throw new CorruptDataError(`${what}: the config's diff_id "${diffID}" is not a sha256 digest`);
    if (!isDigest(desc.digest)) throw new CorruptDataError(`${what}: "${desc.digest}" is not a sha256 digest`);
    const plain = PLAIN_LAYER_TYPES.has(desc.mediaType);
    if (this.sink.has(diffID) && (plain || this.sink.has(desc.digest))) return { diffID, size: this.sink.size(diffID) };

    const { stream } = await this.client.getBlob(this.ref.repository, desc.digest);
    const sizeHint = desc.size;
    if (plain) {
      const staged = await this.sink.stage(stream, { sizeHint });
      this.staged.push({ staged, kind: 'layer' });
      this.downloaded += staged.rawSize;
      this.verify(staged.rawDigest, staged.rawSize, desc, what);
      if (staged.digest !== diffID) throw new CorruptDataError(`${what} does not match the config: content is ${staged.digest}, diff_id is ${diffID}`);
      return { diffID, size: staged.size };
    }
    // One download, two consumers: the decompressed layer and the bytes as received.
    const decompressed = new PassThrough({ highWaterMark: 1 << 20 });
    const asReceived = new PassThrough({ highWaterMark: 1 << 20 });
    stream.on('error', (err) => {
      decompressed.destroy(err);
      asReceived.destroy(err);
    });
    stream.pipe(decompressed);
    stream.pipe(asReceived);
    const settled = await Promise.allSettled([
      this.sink.stage(decompressed, { sizeHint: sizeHint * 2, decompress: true }),
      this.sink.stage(asReceived, { sizeHint }),
    ]);
    for (const [j, s] of settled.entries()) if (s.status === 'fulfilled') this.staged.push({ staged: s.value, kind: j === 0 ? 'layer' : 'blob' });
    // Bytes that differ from the manifest's digest explain a failed decompression best.
    const [, rawSettled] = settled;
    if (rawSettled.status === 'fulfilled') this.verify(rawSettled.value.rawDigest, rawSettled.value.rawSize, desc, what);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      stream.destroy();
      throw failed.reason instanceof CorruptDataError || failed.reason instanceof RegistryError
        ? failed.reason
        : new CorruptDataError(`${what} (${desc.digest}) could not be read: ${errorMessage(failed.reason)}`, { cause: failed.reason });
    }
    const [layer, raw] = settled.map((s) => (s as PromiseFulfilledResult<StagedBlob>).value) as [StagedBlob, StagedBlob];
    this.downloaded += raw.rawSize;
    if (layer.digest !== diffID) {
      throw new CorruptDataError(`${what} does not match the config: its uncompressed content is ${layer.digest}, diff_id is ${diffID}`);
    }
    return { diffID, size: layer.size };
  }

  private verify(digest: Digest, size: number, desc: Descriptor, what: string): void {
    if (digest !== desc.digest) throw new CorruptDataError(`${what} from ${this.client.host} does not match the manifest: got ${digest}, expected ${desc.digest}`);
    if (typeof desc.size === 'number' && size !== desc.size) {
      throw new CorruptDataError(`${what} from ${this.client.host} is ${size} bytes; the manifest says ${desc.size}`);
    }
  }

  /** Stage a small document (the manifest) unless the sink has it. */
  private async keep(bytes: Buffer, digest: Digest, kind: BlobKind): Promise<void> {
    if (this.sink.has(digest)) return;
    const staged = await this.sink.stage(Readable.from([bytes]), { sizeHint: bytes.length });
    this.staged.push({ staged, kind });
    if (staged.digest !== digest) throw new CorruptDataError(`${this.label}: ${kind} ${digest} hashes to ${staged.digest} once stored`);
  }
}

function isIndex(mediaType: string, doc: { manifests?: unknown }): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList || Array.isArray(doc.manifests);
}

function platformLabel(d: Descriptor): string {
  const p = d.platform;
  return p ? `${p.os ?? '?'}/${p.architecture ?? '?'}${p.variant ? `/${p.variant}` : ''}` : 'no platform';
}

/** Node's arch in OCI words. */
export function hostArchitecture(): string {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    default:
      return process.arch;
  }
}
