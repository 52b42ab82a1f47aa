import { createWriteStream } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobEntry, BlobIndex, BlobKind } from './blob-index.js';
import type { Objects } from './objects.js';
import { blobHandle, readPackedBlob } from './packs.js';
import { DigestCounter, sha256, type Digest } from '../util/digest.js';
import { decompressor, detectCompression, type Compression } from '../util/compression.js';
import { peek, rebuffer, tap } from '../util/streams.js';
import { progress } from '../util/progress.js';
import { CorruptDataError, NotFoundError } from '../errors.js';

/**
 * A blob written to local staging but not yet published. `digest` is of the
 * uncompressed content (the key); `rawDigest` is of the bytes as they arrived,
 * which differ when the input was gzip or zstd compressed (a registry layer).
 */
export interface StagedBlob {
  readonly digest: Digest;
  readonly size: number;
  readonly rawDigest: Digest;
  readonly rawSize: number;
  readonly compression: Compression;
  readonly storedSize: number;
  /** Local path of the encoded (compressed, sealed) content. */
  readonly path: string;
}

export interface StageOptions {
  /** Expected size, used to pick single- or multi-threaded compression. */
  sizeHint?: number;
  /** Detect gzip/zstd input and store the decompressed content. */
  decompress?: boolean;
}

/** The interface transports use to hand blobs to a destination without knowing its format. */
export interface BlobSink {
  has(digest: string): boolean;
  stage(source: Readable, options?: StageOptions): Promise<StagedBlob>;
  discard(staged: StagedBlob): Promise<void>;
}

export interface OpenOptions {
  /** Default true. */
  verify?: boolean;
}

/** The interface transports use to read blobs back. */
export interface BlobSource {
  size(digest: Digest): number;
  /** True when the blob's object is really in storage (not only in the index). */
  stored(digest: Digest): Promise<boolean>;
  /**
   * The content, verified against `digest` as it streams: the stream fails at its end on a mismatch.
   * `verify: false` skips the SHA-256 where the reader checks the digest itself (docker load
   * checks every layer against the config's diffIDs); stored frames are still checked by zstd's
   * content checksum as they are decompressed.
   */
  open(digest: Digest, options?: OpenOptions): Promise<Readable>;
  readBuffer(digest: Digest): Promise<Buffer>;
}

/** Content-addressed blobs, each one object (zstd frame, sealed) named from the sha256 of its content. */
export class BlobStore implements BlobSink, BlobSource {
  constructor(
    private readonly objects: Objects,
    /** The repository index (shared with the volume store so one flush covers both). */
    readonly index: BlobIndex,
  ) {}

  has(digest: string): boolean {
    return this.index.has(digest);
  }

  size(digest: Digest): number {
    const entry = this.index.get(digest);
    if (!entry) throw new CorruptDataError(`blob ${digest} is not in the repository index`);
    return entry.size;
  }

  /** Every blob the index lists. */
  entries(): BlobEntry[] {
    return [...this.index.all()];
  }

  async stored(digest: Digest): Promise<boolean> {
    const pack = this.index.get(digest)?.pack;
    if (pack) return (await this.objects.stat({ type: 'pack', name: pack.id })) !== undefined;
    return this.index.has(digest) && (await this.objects.stat(this.handle(digest))) !== undefined;
  }

  private handle(digest: Digest) {
    return blobHandle(this.objects.codec, digest);
  }

  async stage(source: Readable, options: StageOptions = {}): Promise<StagedBlob> {
    const path = join(await this.objects.stagingDir(), `blob-${randomBytes(8).toString('hex')}`);
    const raw = new DigestCounter();
    const plain = new DigestCounter();
    let compression: Compression = 'none';
    // The object's name (its sealed associated data) is known once the content has been read.
    let rawDigest: Digest | undefined;
    let plainDigest: Digest | undefined;
    const contentDigest = (): Digest => {
      rawDigest ??= raw.digest();
      if (compression === 'none') return rawDigest;
      return (plainDigest ??= plain.digest());
    };
    try {
      let input: Readable = source;
      if (options.decompress) {
        const peeked = await peek(source, 4);
        compression = detectCompression(peeked.head);
        input = peeked.stream;
      }
      const stages: NodeJS.ReadWriteStream[] = [
        rebuffer(),
        tap((c) => {
          raw.update(c);
          progress.add(c.length);
        }),
      ];
      if (compression !== 'none') stages.push(decompressor(compression), tap((c) => plain.update(c)));
      const encode = this.objects.codec.encodeStream('blob', () => this.objects.codec.nameOf(contentDigest()), options.sizeHint);
      await pipeline([input, ...stages, ...encode, createWriteStream(path, { mode: 0o600 })]);
      const storedSize = (await stat(path)).size;
      const content = compression === 'none' ? raw : plain;
      const digest = contentDigest();
      return {
        digest,
        size: content.bytes,
        rawDigest: rawDigest as Digest,
        rawSize: raw.bytes,
        compression,
        storedSize,
        path,
      };
    } catch (err) {
      await rm(path, { force: true });
      throw err;
    }
  }

  /** Read back a small staged blob (a config or manifest) before it is committed. */
  async readStaged(staged: StagedBlob, limit: number): Promise<Buffer> {
    if (staged.size > limit) throw new CorruptDataError(`blob ${staged.digest} is ${staged.size} bytes; documents are limited to ${limit}`);
    return this.objects.codec.decode(this.handle(staged.digest), await readFile(staged.path));
  }

  async discard(staged: StagedBlob): Promise<void> {
    await rm(staged.path, { force: true });
  }

  /** Publish a staged blob (or drop it if already present) and record it in the index. */
  async commit(staged: StagedBlob, kind: BlobKind): Promise<void> {
    if (this.index.has(staged.digest)) {
      await this.discard(staged);
      return;
    }
    await this.objects.publishFile(this.handle(staged.digest), staged.path);
    this.index.add({ digest: staged.digest, size: staged.size, stored: staged.storedSize, kind });
  }

  /** The blob's content, verified against its digest as it streams (the stream errors at the end on mismatch). */
  async open(digest: Digest, options: OpenOptions = {}): Promise<Readable> {
    // A packed blob (a volume chunk or tree) is small: read it whole, verified.
    if (this.index.get(digest)?.pack) return Readable.from([await this.readBuffer(digest)]);
    // Opened (authenticated, when sealed) and decompressed as it streams; every frame carries zstd's content checksum.
    const plain = await named(digest, this.objects.openStream(this.handle(digest)));
    const out = options.verify === false ? new PassThrough({ highWaterMark: 1 << 20 }) : verifier(digest, `blob ${digest}`);
    plain.on('error', (err) => out.destroy(err instanceof CorruptDataError ? new CorruptDataError(`blob ${digest}: ${err.message}`) : err));
    return plain.pipe(out);
  }

  async readBuffer(digest: Digest): Promise<Buffer> {
    const pack = this.index.get(digest)?.pack;
    if (pack) return readPackedBlob(this.objects, digest, pack);
    const data = await named(digest, this.objects.load(this.handle(digest)));
    if (sha256(data) !== digest) throw new CorruptDataError(`blob ${digest} does not match its digest (repository corrupted?)`);
    return data;
  }

  async flushIndex(): Promise<string | undefined> {
    return this.index.flush(this.objects);
  }
}

/** A missing object named by the blob's digest too (its object name is a MAC that says nothing to a user). */
async function named<T>(digest: Digest, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof NotFoundError) throw new NotFoundError(`blob ${digest}: ${err.message}`);
    throw err;
  }
}

/** A pass-through that fails at the end unless the content hashes to `digest`. */
export function verifier(digest: Digest, what: string): Transform {
  const counter = new DigestCounter();
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      counter.update(chunk);
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      const actual = counter.digest();
      callback(actual === digest ? null : new CorruptDataError(`${what} does not match its digest: got ${actual}`));
    },
  });
}
