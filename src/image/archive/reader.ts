import type { Readable } from 'node:stream';
import { extract as tarExtract } from 'tar-stream';
import type { BlobSink, StagedBlob } from '../../repo/blob-store.js';
import { ArchiveError, CorruptDataError, errorMessage } from '../../errors.js';
import { decompressor, detectCompression } from '../../util/compression.js';
import { peek, readAll, rebuffer } from '../../util/streams.js';
import { isDigest, type Digest } from '../../util/digest.js';
import type { Descriptor, ImageConfig, ImageRecord, Index, Manifest } from '../model.js';
import { MediaType } from '../model.js';
import { archivePath, digestOfBlobPath, linkTarget } from './paths.js';
import { familiarName, parseReference } from '../reference.js';

/** Files read into memory: the archive's own metadata, never layer data. */
const METADATA_FILES = new Set(['manifest.json', 'index.json', 'repositories', 'oci-layout']);
const METADATA_LIMIT = 16 << 20;
/** A document blob (config, manifest, index) larger than this is refused. */
const DOCUMENT_LIMIT = 16 << 20;

/** A blob the archive holds: newly staged, or already in the destination. */
type ArchiveBlob = { staged: StagedBlob } | { present: Digest };

/** What the archive's blobs need from the destination besides staging. */
export interface ArchiveSink extends BlobSink {
  readStaged(staged: StagedBlob, limit: number): Promise<Buffer>;
  readBuffer(digest: Digest): Promise<Buffer>;
  size(digest: Digest): number;
}

export interface ReadArchiveResult {
  images: ImageRecord[];
  /** Staged blobs that the images reference, one per digest, for the caller to commit. */
  blobs: { staged: StagedBlob; kind: 'layer' | 'config' }[];
}

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/**
 * Read a `docker save` archive (legacy or OCI layout, as Docker ≤ 24 and ≥ 25
 * write them) or an OCI image layout archive, plain, gzip or zstd. Each blob is
 * streamed into the sink as it passes (nothing held in memory but metadata),
 * then every layer is checked against the config's diff_ids. On any error,
 * everything staged is discarded.
 */
export async function readImageArchive(source: Readable, sink: ArchiveSink, what: string): Promise<ReadArchiveResult> {
  const reader = new ArchiveReader(sink, what);
  try {
    await reader.consume(source);
    return await reader.resolve();
  } catch (err) {
    await reader.discardAll();
    // A truncated tar destroys the entry being staged; the tar parser's own error says why.
    const cause = reader.tarError ?? err;
    throw cause instanceof ArchiveError || cause instanceof CorruptDataError ? cause : wrapTarError(cause, what);
  }
}

function wrapTarError(err: unknown, what: string): Error {
  const message = errorMessage(err);
  if (/unexpected end|truncat|invalid tar|premature close|invalid header/i.test(message)) {
    return new ArchiveError(`${what} is truncated or not a tar archive (${message})`, { cause: err });
  }
  return err instanceof Error ? err : new Error(message);
}

class ArchiveReader {
  private readonly files = new Map<string, ArchiveBlob>();
  private readonly links = new Map<string, string>();
  private readonly metadata = new Map<string, Buffer>();
  private readonly staged: StagedBlob[] = [];
  private readonly used = new Map<Digest, { staged: StagedBlob; kind: 'layer' | 'config' }>();
  tarError: Error | undefined;

  constructor(
    private readonly sink: ArchiveSink,
    private readonly what: string,
  ) {}

  async consume(source: Readable): Promise<void> {
    const { head, stream } = await peek(source, 4);
    if (head.length === 0) throw new ArchiveError(`${this.what} is empty`);
    const compression = detectCompression(head);
    const extract = tarExtract();
    extract.on('error', (err: Error) => (this.tarError ??= err));
    // Sockets deliver 16–64 KiB at a time; the tar parser and everything after it
    // cost per chunk, so they get 1 MiB blocks.
    const tarInput = (compression === 'none' ? stream : stream.pipe(decompressor(compression))).pipe(rebuffer());
    stream.on('error', (err) => tarInput.destroy(err));
    tarInput.on('error', (err) => extract.destroy(err));
    tarInput.pipe(extract);
    for await (const entry of extract) {
      const path = archivePath(entry.header.name, this.what);
      const type = entry.header.type;
      if (type === 'symlink' || type === 'link') {
        this.links.set(path, linkTarget(path, entry.header.linkname ?? '', type === 'link', this.what));
      } else if (type === 'file' || type === 'contiguous-file') {
        await this.file(path, entry as unknown as Readable, entry.header.size ?? 0);
      }
      entry.resume();
    }
  }

  private async file(path: string, entry: Readable, size: number): Promise<void> {
    if (METADATA_FILES.has(path)) {
      this.metadata.set(path, await readAll(entry, METADATA_LIMIT, `${this.what}: ${path}`));
      return;
    }
    if (!isBlobCandidate(path)) return;
    const named = digestOfBlobPath(path);
    if (named && this.sink.has(named)) {
      this.files.set(path, { present: named });
      return;
    }
    const staged = await this.sink.stage(entry, { sizeHint: size, decompress: true });
    this.staged.push(staged);
    this.files.set(path, { staged });
  }

  async discardAll(): Promise<void> {
    await Promise.all(this.staged.map((s) => this.sink.discard(s)));
    this.staged.length = 0;
  }

  /** Interpret the metadata, verify every image, and drop the staged blobs no image uses. */
  async resolve(): Promise<ReadArchiveResult> {
    const images = this.metadata.has('manifest.json')
      ? await this.dockerImages()
      : this.metadata.has('index.json')
        ? await this.ociImages()
        : undefined;
    if (!images) {
      throw new ArchiveError(`${this.what} is not a docker save or OCI archive: it has neither manifest.json nor index.json`);
    }
    if (images.length === 0) throw new ArchiveError(`${this.what} contains no images`);
    const keep = new Set<StagedBlob>([...this.used.values()].map((u) => u.staged));
    await Promise.all(this.staged.filter((s) => !keep.has(s)).map((s) => this.sink.discard(s)));
    this.staged.length = 0;
    return { images, blobs: [...this.used.values()] };
  }

  private blobAt(path: string, role: string): ArchiveBlob {
    let current = archivePath(path, this.what);
    for (let depth = 0; depth < 16; depth++) {
      const blob = this.files.get(current);
      if (blob) return blob;
      const next = this.links.get(current);
      if (next === undefined) break;
      current = next;
    }
    throw new ArchiveError(`${this.what}: ${role} "${path}" is missing from the archive`);
  }

  private digestOf(blob: ArchiveBlob): Digest {
    return 'staged' in blob ? blob.staged.digest : blob.present;
  }

  private rawDigestOf(blob: ArchiveBlob): Digest {
    return 'staged' in blob ? blob.staged.rawDigest : blob.present;
  }

  private async readDocument(blob: ArchiveBlob): Promise<Buffer> {
    return 'staged' in blob ? this.sink.readStaged(blob.staged, DOCUMENT_LIMIT) : this.sink.readBuffer(blob.present);
  }

  private use(blob: ArchiveBlob, kind: 'layer' | 'config'): void {
    if (!('staged' in blob)) return;
    if (!this.used.has(blob.staged.digest)) this.used.set(blob.staged.digest, { staged: blob.staged, kind });
  }

  private parseJson<T>(buf: Buffer, role: string): T {
    try {
      return JSON.parse(buf.toString('utf8')) as T;
    } catch (err) {
      throw new ArchiveError(`${this.what}: ${role} is not valid JSON (${errorMessage(err)})`);
    }
  }

  private async dockerImages(): Promise<ImageRecord[]> {
    const entries = this.parseJson<DockerManifestEntry[]>(this.metadata.get('manifest.json') as Buffer, 'manifest.json');
    if (!Array.isArray(entries)) throw new ArchiveError(`${this.what}: manifest.json is not a list of images`);
    const images: ImageRecord[] = [];
    for (const entry of entries) {
      const names = (entry.RepoTags ?? []).map((t) => normalizeName(t) ?? t);
      const label = names[0] ?? entry.Config;
      if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) {
        throw new ArchiveError(`${this.what}: manifest.json entry for ${label} lacks Config or Layers`);
      }
      const configBlob = this.blobAt(entry.Config, `config of ${label}`);
      const configDigest = this.digestOf(configBlob);
      const legacyName = /^([0-9a-f]{64})\.json$/.exec(entry.Config)?.[1];
      const expected = legacyName ? `sha256:${legacyName}` : digestOfBlobPath(entry.Config);
      if (expected && expected !== configDigest) {
        throw new ArchiveError(`${this.what}: config of ${label} (${entry.Config}) does not match its name: content is ${configDigest}`);
      }
      const layerBlobs = entry.Layers.map((l, i) => this.blobAt(l, `layer ${i + 1} of ${label}`));
      layerBlobs.forEach((blob, i) => this.checkNamed(entry.Layers[i] as string, blob, `layer ${i + 1} of ${label}`));
      images.push(await this.image(names, configBlob, layerBlobs, label));
    }
    return images;
  }

  /** A blob stored at blobs/sha256/<hex> must hash (as stored) to <hex>. */
  private checkNamed(path: string, blob: ArchiveBlob, role: string): void {
    const named = digestOfBlobPath(archivePath(path, this.what));
    if (named && named !== this.rawDigestOf(blob)) {
      throw new ArchiveError(`${this.what}: ${role} (${path}) does not match its name: content is ${this.rawDigestOf(blob)}`);
    }
  }

  /** Verify layers against the config's diff_ids and build the record. */
  private async image(names: string[], configBlob: ArchiveBlob, layerBlobs: ArchiveBlob[], label: string): Promise<ImageRecord> {
    const configBytes = await this.readDocument(configBlob);
    const config = this.parseJson<ImageConfig>(configBytes, `config of ${label}`);
    const diffIDs = config.rootfs?.diff_ids ?? [];
    if (diffIDs.length !== layerBlobs.length) {
      throw new ArchiveError(
        `${this.what}: image ${label} lists ${layerBlobs.length} layers but its config has ${diffIDs.length} diff_ids`,
      );
    }
    const layers = layerBlobs.map((blob, i) => {
      const diffID = diffIDs[i] as string;
      const actual = this.digestOf(blob);
      if (!isDigest(diffID) || actual !== diffID) {
        throw new ArchiveError(
          `${this.what}: layer ${i + 1} of image ${label} does not match the config: content is ${actual}, diff_id is ${diffID} (archive corrupt?)`,
        );
      }
      this.use(blob, 'layer');
      return { diffID: actual, size: 'staged' in blob ? blob.staged.size : this.sink.size(blob.present) };
    });
    this.use(configBlob, 'config');
    const record: ImageRecord = {
      names,
      repoDigests: [],
      config: this.digestOf(configBlob),
      configSize: configBytes.length,
      layers,
    };
    if (config.os) record.os = config.os;
    if (config.architecture) record.architecture = config.architecture;
    return record;
  }

  private async ociImages(): Promise<ImageRecord[]> {
    const index = this.parseJson<Index>(this.metadata.get('index.json') as Buffer, 'index.json');
    const images: ImageRecord[] = [];
    const byConfig = new Map<string, ImageRecord>();
    for (const { manifest, name } of await this.manifestsOf(index, undefined, 0)) {
      const existing = byConfig.get(manifest.config.digest);
      if (existing) {
        if (name && !existing.names.includes(name)) existing.names.push(name);
        continue;
      }
      const label = name ?? manifest.config.digest;
      const configBlob = this.blobAt(blobPath(manifest.config.digest, this.what), `config of ${label}`);
      this.checkNamed(blobPath(manifest.config.digest, this.what), configBlob, `config of ${label}`);
      const layerBlobs = manifest.layers.map((d, i) => {
        const path = blobPath(d.digest, this.what);
        const blob = this.blobAt(path, `layer ${i + 1} of ${label}`);
        this.checkNamed(path, blob, `layer ${i + 1} of ${label}`);
        return blob;
      });
      const record = await this.image(name ? [name] : [], configBlob, layerBlobs, label);
      byConfig.set(manifest.config.digest, record);
      images.push(record);
    }
    return images;
  }

  /** Walk an index down to image manifests, carrying the name annotations. */
  private async manifestsOf(index: Index, inherited: string | undefined, depth: number): Promise<{ manifest: Manifest; name: string | undefined }[]> {
    if (depth > 4) throw new ArchiveError(`${this.what}: index nesting is too deep`);
    if (!Array.isArray(index.manifests)) throw new ArchiveError(`${this.what}: index has no manifests list`);
    const out: { manifest: Manifest; name: string | undefined }[] = [];
    for (const desc of pickPlatform(index.manifests)) {
      const name = nameOf(desc) ?? inherited;
      const blob = this.blobAt(blobPath(desc.digest, this.what), `manifest ${desc.digest}`);
      const doc = this.parseJson<Manifest & Index>(await this.readDocument(blob), `manifest ${desc.digest}`);
      if (desc.mediaType === MediaType.ociIndex || desc.mediaType === MediaType.dockerManifestList || Array.isArray(doc.manifests)) {
        out.push(...(await this.manifestsOf(doc, name, depth + 1)));
      } else {
        if (!doc.config || !Array.isArray(doc.layers)) throw new ArchiveError(`${this.what}: manifest ${desc.digest} lacks config or layers`);
        out.push({ manifest: doc, name });
      }
    }
    return out;
  }
}

function blobPath(digest: string, what: string): string {
  if (!isDigest(digest)) throw new ArchiveError(`${what}: unsupported digest "${digest}" (only sha256 is supported)`);
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

/** Entries that may be blobs: OCI blobs, legacy layer tars and legacy configs. */
function isBlobCandidate(path: string): boolean {
  return path.startsWith('blobs/') || path.endsWith('/layer.tar') || /^[0-9a-f]{64}\.json$/.test(path);
}

function normalizeName(name: string): string | undefined {
  try {
    return familiarName(parseReference(name));
  } catch {
    return undefined;
  }
}

/** The image name of an index entry: containerd's full name, or a ref.name that is a whole reference. */
function nameOf(desc: Descriptor): string | undefined {
  const full = desc.annotations?.['io.containerd.image.name'];
  if (full) return normalizeName(full);
  const ref = desc.annotations?.['org.opencontainers.image.ref.name'];
  if (ref && /[/:]/.test(ref)) return normalizeName(ref);
  return undefined;
}

/** From a multi-platform list keep this host's platform (linux/amd64 here) when present, else everything. */
function pickPlatform(manifests: Descriptor[]): Descriptor[] {
  const withPlatform = manifests.filter((m) => m.platform);
  if (withPlatform.length < 2) return manifests;
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const match = withPlatform.filter((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
  return match.length > 0 ? [...match.slice(0, 1), ...manifests.filter((m) => !m.platform)] : manifests;
}
