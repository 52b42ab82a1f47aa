/**
 * The volume side of the repository: chunks and trees go into pack files,
 * compressed on worker threads; blobs are read back verified. The archiver
 * writes through it, the restorer reads through it.
 */
import type { BlobIndex } from '../repo/blob-index.js';
import type { Objects } from '../repo/objects.js';
import { BlobStore } from '../repo/blob-store.js';
import { PackWriter } from '../repo/packs.js';
import type { Repository } from '../repo/repository.js';
import { sha256, type Digest } from '../util/digest.js';
import { CorruptDataError } from '../errors.js';
import { CompressPool } from './compress-pool.js';

/** What the restorer (and change detection) needs: verified blob content. */
export interface BlobReader {
  readBlob(digest: Digest): Promise<Buffer>;
}

export interface VolumeStoreOptions {
  /** Compression worker threads (default: 2, or 1 on a single core). */
  workers?: number;
  /** zstd level of the chunk compression workers (default 3, the codec's). */
  level?: number;
  /** Pack target size in bytes (default 16 MiB). */
  packSize?: number;
  /** Chunks being compressed at once; bounds memory (default 4 per worker). */
  maxInFlight?: number;
}

export interface VolumeStoreStats {
  newChunks: number;
  newTrees: number;
  /** Uncompressed bytes of new blobs. */
  newRawBytes: number;
  /** Stored (compressed) bytes of new blobs. */
  newBytes: number;
}

export class VolumeStore implements BlobReader {
  private readonly packs: PackWriter;
  /** Reads packed and loose blobs alike, verified. */
  private readonly reader: BlobStore;
  private readonly pool: CompressPool;
  private readonly inFlight = new Set<Promise<void>>();
  /** Chunks being compressed: has() must see them so a duplicate is not queued twice. */
  private readonly reserved = new Set<Digest>();
  private failure: unknown;
  readonly stats: VolumeStoreStats = { newChunks: 0, newTrees: 0, newRawBytes: 0, newBytes: 0 };

  constructor(
    private readonly objects: Objects,
    readonly index: BlobIndex,
    options: VolumeStoreOptions = {},
  ) {
    this.reader = new BlobStore(objects, index);
    this.packs = new PackWriter(objects, index, options.packSize ? { targetSize: options.packSize } : {});
    this.pool = new CompressPool(options.workers, options.level, options.maxInFlight);
  }

  /** A volume store sharing the repository's index (one flush of either covers both). */
  static async forRepository(repo: Repository, options: VolumeStoreOptions = {}): Promise<VolumeStore> {
    const blobs: BlobStore = await repo.blobs();
    return new VolumeStore(repo.objects, blobs.index, options);
  }

  /** True when the repository (or this run) already has the blob. */
  has(digest: Digest): boolean {
    return this.reserved.has(digest) || this.packs.has(digest);
  }

  /**
   * Store a chunk whose sha256 is `digest`. `data` is copied before this
   * resolves (the caller may reuse its memory then). Waits while the pool's
   * buffers are all in flight (backpressure); compression and the pack write
   * continue in the background (flush() waits for them).
   */
  async putChunk(digest: Digest, data: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.has(digest)) return;
    // Reserve the digest now, so a duplicate later in this run is not compressed again.
    this.reserved.add(digest);
    let buffer: ArrayBuffer;
    try {
      buffer = await this.pool.acquire();
    } catch (err) {
      this.reserved.delete(digest);
      throw err;
    }
    if (this.failure) {
      this.pool.release(buffer);
      this.reserved.delete(digest);
      throw this.failure;
    }
    new Uint8Array(buffer).set(data);
    const size = data.length;
    const job = this.pool
      .compress(buffer, size)
      .then(async (frame) => {
        this.stats.newChunks++;
        this.stats.newRawBytes += size;
        this.stats.newBytes += frame.length;
        try {
          await this.packs.add(digest, 'chunk', size, frame);
        } finally {
          this.pool.release(frame.buffer as ArrayBuffer);
        }
      })
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.inFlight.delete(job);
        this.reserved.delete(digest);
      });
    this.inFlight.add(job);
  }

  /** Store a tree document (small; encoded by the codec on this thread). Returns its digest. */
  async putTree(doc: Buffer): Promise<Digest> {
    if (this.failure) throw this.failure;
    const digest = sha256(doc);
    if (this.has(digest)) return digest;
    this.stats.newTrees++;
    this.stats.newRawBytes += doc.length;
    const before = this.packs.stats.storedBytes;
    await this.packs.addDocument(digest, 'tree', doc);
    this.stats.newBytes += this.packs.stats.storedBytes - before;
    return digest;
  }

  /** A blob's content, verified against its digest (packed or loose). */
  async readBlob(digest: Digest): Promise<Buffer> {
    if (!this.index.has(digest)) throw new CorruptDataError(`blob ${digest} is not in the repository index (an incomplete backup? run \`tsbak check\`)`);
    return this.reader.readBuffer(digest);
  }

  /**
   * Make everything stored so far durable: wait for compression, publish the
   * open pack, then write an index file naming the new packs.
   */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    if (this.failure) {
      await this.packs.abort();
      throw this.failure;
    }
    await this.packs.finish();
    await this.index.flush(this.objects);
  }

  /** Stop the worker threads (after flush, or to abandon the run: an unfinished pack is dropped from staging). */
  async close(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    await this.packs.abort();
    await this.pool.close();
  }
}
