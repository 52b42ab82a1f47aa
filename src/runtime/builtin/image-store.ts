/**
 * The built-in runtime's images: content-addressed blobs (configs and
 * uncompressed layers, each stored once whatever the number of images that
 * share it) and one small record per image with its names.
 *
 * It is an ArchiveSink (archives and registries stage blobs into it, verified
 * by the archive reader and the puller) and a BlobSource (save streams are
 * written from it). Blobs copied from the repository are verified against
 * their digest as they are written.
 */
import { createReadStream, createWriteStream, existsSync, promises as fsp, readdirSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArchiveSink } from '../../image/archive/reader.js';
import type { ImageConfig, ImageRecord } from '../../image/model.js';
import { canonicalName } from '../../image/reference.js';
import type { BlobSource, StagedBlob, StageOptions } from '../../repo/blob-store.js';
import { verifier } from '../../repo/blob-store.js';
import { CorruptDataError, NotFoundError, UsageError, isErrno } from '../../errors.js';
import { decompressor, detectCompression, type Compression } from '../../util/compression.js';
import { DigestCounter, digestHex, isDigest, sha256, shortId, type Digest } from '../../util/digest.js';
import { peek, rebuffer, tap } from '../../util/streams.js';
import { writeJsonAtomic } from '../../util/atomic-file.js';
import type { RuntimeImage } from '../runtime.js';
import type { RuntimeRoot } from './root.js';

/** images/<hex>.json */
interface ImageFile {
  id: Digest;
  names: string[];
  repoDigests: string[];
  layers: Digest[];
  size: number;
  os?: string;
  architecture?: string;
  created: string;
}

const DOCUMENT_LIMIT = 16 << 20;

export class ImageStore implements ArchiveSink, BlobSource {
  constructor(private readonly root: RuntimeRoot) {}

  // --- blobs ---------------------------------------------------------------

  has(digest: string): boolean {
    return isDigest(digest) && existsSync(this.root.blob(digestHex(digest)));
  }

  size(digest: Digest): number {
    try {
      return statSync(this.root.blob(digestHex(digest))).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new NotFoundError(`blob ${digest} is not in the runtime's image store (${this.root.dir})`);
      throw err;
    }
  }

  async stored(digest: Digest): Promise<boolean> {
    return this.has(digest);
  }

  async open(digest: Digest): Promise<Readable> {
    const file = this.root.blob(digestHex(digest));
    await fsp.access(file).catch(() => {
      throw new NotFoundError(`blob ${digest} is not in the runtime's image store (${this.root.dir})`);
    });
    return createReadStream(file, { highWaterMark: 1 << 20 }).pipe(verifier(digest, `blob ${digest} of the runtime's image store`));
  }

  async readBuffer(digest: Digest): Promise<Buffer> {
    const data = await fsp.readFile(this.root.blob(digestHex(digest))).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) throw new NotFoundError(`blob ${digest} is not in the runtime's image store (${this.root.dir})`);
      throw err;
    });
    if (sha256(data) !== digest) throw new CorruptDataError(`blob ${digest} of the runtime's image store does not match its digest`);
    return data;
  }

  /** Writes a stream into blobs/tmp, decompressing gzip/zstd input when asked; the digest is of the content. */
  async stage(source: Readable, options: StageOptions = {}): Promise<StagedBlob> {
    const file = path.join(this.root.blobTmp, `blob-${randomBytes(8).toString('hex')}`);
    const raw = new DigestCounter();
    const plain = new DigestCounter();
    let compression: Compression = 'none';
    try {
      let input: Readable = source;
      if (options.decompress) {
        const peeked = await peek(source, 4);
        compression = detectCompression(peeked.head);
        input = peeked.stream;
      }
      const stages: NodeJS.ReadWriteStream[] = [rebuffer(), tap((c) => raw.update(c))];
      if (compression !== 'none') stages.push(decompressor(compression), tap((c) => plain.update(c)));
      await pipeline([input, ...stages, createWriteStream(file, { mode: 0o600 })]);
      const content = compression === 'none' ? raw : plain;
      const rawDigest = raw.digest();
      return {
        digest: compression === 'none' ? rawDigest : content.digest(),
        size: content.bytes,
        rawDigest,
        rawSize: raw.bytes,
        compression,
        storedSize: content.bytes,
        path: file,
      };
    } catch (err) {
      await fsp.rm(file, { force: true });
      throw err;
    }
  }

  async readStaged(staged: StagedBlob, limit: number): Promise<Buffer> {
    if (staged.size > limit) throw new CorruptDataError(`blob ${staged.digest} is ${staged.size} bytes; documents are limited to ${limit}`);
    return fsp.readFile(staged.path);
  }

  async discard(staged: StagedBlob): Promise<void> {
    await fsp.rm(staged.path, { force: true });
  }

  /** Publishes a staged blob under its digest (or drops it when the store has it). */
  async commit(staged: StagedBlob): Promise<void> {
    if (this.has(staged.digest)) return this.discard(staged);
    await fsp.rename(staged.path, this.root.blob(digestHex(staged.digest)));
  }

  /**
   * Copies a blob from another source (the repository). BlobSource.open verifies the
   * content against its digest as it streams and fails the stream at the end on a
   * mismatch, so the bytes are not hashed a second time here; a failed copy is removed.
   */
  async copyFrom(source: BlobSource, digest: Digest): Promise<boolean> {
    if (this.has(digest)) return false;
    const file = path.join(this.root.blobTmp, `copy-${randomBytes(8).toString('hex')}`);
    try {
      await pipeline(await source.open(digest), createWriteStream(file, { mode: 0o600 }));
      await fsp.rename(file, this.root.blob(digestHex(digest)));
    } catch (err) {
      await fsp.rm(file, { force: true });
      throw err;
    }
    return true;
  }

  // --- images --------------------------------------------------------------

  private imageFile(id: Digest): string {
    return path.join(this.root.images, `${digestHex(id)}.json`);
  }

  private async readImage(id: Digest): Promise<ImageFile | undefined> {
    try {
      return JSON.parse(await fsp.readFile(this.imageFile(id), 'utf8')) as ImageFile;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  private async allImages(): Promise<ImageFile[]> {
    const out: ImageFile[] = [];
    for (const name of readdirSync(this.root.images)) {
      const m = /^([0-9a-f]{64})\.json$/.exec(name);
      const img = m ? await this.readImage(`sha256:${m[1]}`) : undefined;
      if (img) out.push(img);
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  async list(): Promise<RuntimeImage[]> {
    return (await this.allImages()).map(runtimeImage);
  }

  /** By name (`app:1`, `docker.io/library/app:1`), id (`sha256:…`), or an id prefix of 6+ hex digits. */
  async find(ref: string): Promise<RuntimeImage | undefined> {
    const file = await this.findFile(ref);
    return file && runtimeImage(file);
  }

  async inspect(ref: string): Promise<RuntimeImage> {
    const img = await this.find(ref);
    if (!img) throw new NotFoundError(`image ${ref} is not in the runtime at ${this.root.dir}; restore it or \`tsbak runtime load\` it`);
    return img;
  }

  private async findFile(ref: string): Promise<ImageFile | undefined> {
    if (isDigest(ref)) return this.readImage(ref);
    const all = await this.allImages();
    const wanted = canonicalOrSelf(ref);
    const byName = all.find((img) => img.names.some((n) => canonicalOrSelf(n) === wanted));
    if (byName) return byName;
    const hex = ref.replace(/^sha256:/, '');
    if (/^[0-9a-f]{6,64}$/.test(hex)) {
      const matches = all.filter((img) => digestHex(img.id).startsWith(hex));
      if (matches.length > 1) throw new UsageError(`image id prefix ${hex} is ambiguous in the runtime; give more digits`);
      return matches[0];
    }
    return undefined;
  }

  /** The image's config document (verified). */
  async config(id: Digest): Promise<ImageConfig> {
    const buf = await this.readBuffer(id);
    if (buf.length > DOCUMENT_LIMIT) throw new CorruptDataError(`config ${id} is too large`);
    return JSON.parse(buf.toString('utf8')) as ImageConfig;
  }

  /**
   * Records an image whose blobs are all in the store, and points `names` at
   * it (moving them off other images). Call under the runtime lock.
   */
  async addImage(record: ImageRecord): Promise<void> {
    for (const d of [record.config, ...record.layers.map((l) => l.diffID)]) {
      if (!this.has(d)) throw new CorruptDataError(`image ${shortId(record.config)}: blob ${d} is missing from the runtime's store`);
    }
    const existing = await this.readImage(record.config);
    const file: ImageFile = {
      id: record.config,
      names: [...new Set([...(existing?.names ?? []), ...record.names])],
      repoDigests: [...new Set([...(existing?.repoDigests ?? []), ...record.repoDigests])],
      layers: record.layers.map((l) => l.diffID),
      size: record.layers.reduce((n, l) => n + this.size(l.diffID), 0),
      created: existing?.created ?? new Date().toISOString(),
    };
    const os = record.os ?? existing?.os;
    const architecture = record.architecture ?? existing?.architecture;
    if (os) file.os = os;
    if (architecture) file.architecture = architecture;
    await this.untagOthers(record.config, record.names);
    await writeJsonAtomic(this.imageFile(record.config), file);
  }

  /** Point `name` at image `id` (under the runtime lock). */
  async tag(id: string, name: string): Promise<void> {
    const img = await this.findFile(id);
    if (!img) throw new NotFoundError(`image ${id} is not in the runtime at ${this.root.dir}`);
    await this.untagOthers(img.id, [name]);
    if (!img.names.includes(name)) img.names.push(name);
    await writeJsonAtomic(this.imageFile(img.id), img);
  }

  private async untagOthers(id: Digest, names: string[]): Promise<void> {
    const wanted = new Set(names.map(canonicalOrSelf));
    for (const other of await this.allImages()) {
      if (other.id === id) continue;
      const kept = other.names.filter((n) => !wanted.has(canonicalOrSelf(n)));
      if (kept.length !== other.names.length) await writeJsonAtomic(this.imageFile(other.id), { ...other, names: kept });
    }
  }

  /** Removes an image record; its blobs stay until no image uses them (then they are removed too). */
  async removeImage(id: Digest): Promise<void> {
    await fsp.rm(this.imageFile(id), { force: true });
    const used = new Set<string>();
    for (const img of await this.allImages()) for (const d of [img.id, ...img.layers]) used.add(digestHex(d));
    for (const name of readdirSync(this.root.blobs)) if (!used.has(name)) await fsp.rm(path.join(this.root.blobs, name), { force: true });
  }

  /** The layers of an image as streams, bottom first, for unpacking. */
  layerStreams(image: RuntimeImage): { label: string; stream: () => Promise<Readable> }[] {
    const name = image.names[0] ?? shortId(image.id);
    return image.layers.map((diffID, i) => ({ label: `layer ${i + 1} (${shortId(diffID)}) of ${name}`, stream: () => this.open(diffID) }));
  }
}

function canonicalOrSelf(name: string): string {
  return canonicalName(name) ?? name;
}

function runtimeImage(file: ImageFile): RuntimeImage {
  const img: RuntimeImage = { id: file.id, names: file.names, repoDigests: file.repoDigests, layers: file.layers, size: file.size };
  if (file.os) img.os = file.os;
  if (file.architecture) img.architecture = file.architecture;
  return img;
}
