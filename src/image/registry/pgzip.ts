import { Transform, type TransformCallback } from 'node:stream';
import { constants, crc32, deflateRaw, type ZlibOptions } from 'node:zlib';

/** Uncompressed bytes per independently compressed block. Part of the output format: changing it changes every digest. */
export const PGZIP_BLOCK = 1 << 20;
/** Deflate's window: each block is primed with the previous block's last 32 KiB, so matches span blocks. */
const WINDOW = 32 << 10;
/** Blocks compressed at once (libuv's thread pool has 4 threads; this keeps both cores busy on one layer). */
const IN_FLIGHT = 4;
/** Probe: SAMPLES pieces of SAMPLE bytes spread over a block, deflated at level 1; blocks whose probe does not shrink are stored. */
const SAMPLES = 4;
const SAMPLE = 8 << 10;
const INCOMPRESSIBLE = 0.98;
/** gzip member header: deflate, no flags, mtime 0, no extra flags, OS unix. */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);

function deflateBlock(block: Buffer, options: ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => deflateRaw(block, options, (err, out) => (err ? reject(err) : resolve(out))));
}

/** Whether this Node has zlib.crc32 (20.15+), which the parallel compressor needs. */
export const parallelGzipAvailable = typeof crc32 === 'function';

/**
 * gzip, compressed in parallel the way pigz does it: the input is cut into
 * 1 MiB blocks, each deflated on the thread pool with the previous 32 KiB as
 * dictionary and ended with a sync flush (the last one with a final block),
 * and the raw deflate streams are concatenated in order into one gzip member
 * with a CRC-32 and length of the whole input; a block that does not
 * compress is stored instead. Any gunzip reads it. The
 * output depends only on the input bytes and the level, not on how the input
 * is chunked or scheduled, so a layer always compresses to the same digest.
 * At most IN_FLIGHT + 1 blocks are held in memory.
 */
export class ParallelGzip extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private previousTail: Buffer | undefined;
  private crc = 0;
  private total = 0;
  private readonly queue: Promise<Buffer>[] = [];
  private started = false;

  constructor(private readonly level: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.pump(false).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.pump(true).then(() => callback(), callback);
  }

  private async pump(final: boolean): Promise<void> {
    if (!this.started) {
      this.started = true;
      this.push(HEADER);
    }
    while (this.pendingBytes >= PGZIP_BLOCK) await this.enqueue(this.cut(PGZIP_BLOCK), false);
    if (!final) return;
    await this.enqueue(this.cut(this.pendingBytes), true);
    while (this.queue.length > 0) this.push(await this.queue.shift());
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.total % 2 ** 32, 4);
    this.push(trailer);
  }

  /** The first `n` pending bytes as one buffer. */
  private cut(n: number): Buffer {
    const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    const block = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return block;
  }

  /**
   * Deflate one block; one that does not compress (media, archives, encrypted
   * data: the probe does not shrink) is stored (level 0), which costs a copy
   * instead of a fruitless search for matches. Deterministic: the probe sees
   * only the block's own bytes.
   */
  private async compress(block: Buffer, options: ZlibOptions): Promise<Buffer> {
    if (this.level > 0 && block.length >= SAMPLES * SAMPLE * 2) {
      const step = Math.floor(block.length / SAMPLES);
      const probe = Buffer.concat(Array.from({ length: SAMPLES }, (_, i) => block.subarray(i * step, i * step + SAMPLE)));
      const packed = await deflateBlock(probe, { level: 1 });
      if (packed.length >= probe.length * INCOMPRESSIBLE) return deflateBlock(block, { ...options, level: 0 });
    }
    return deflateBlock(block, options);
  }

  private async enqueue(block: Buffer, last: boolean): Promise<void> {
    if (block.length > 0) this.crc = crc32(block, this.crc); // crc32 of nothing answers 0, not the running value
    this.total += block.length;
    const options: ZlibOptions = { level: this.level, finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH };
    if (this.previousTail) options.dictionary = this.previousTail;
    const job = this.compress(block, options);
    job.catch(() => {}); // awaited in order below; this only keeps an early failure from being "unhandled"
    this.queue.push(job);
    this.previousTail =
      block.length >= WINDOW || !this.previousTail ? block.subarray(Math.max(0, block.length - WINDOW)) : Buffer.concat([this.previousTail, block]).subarray(-WINDOW);
    while (this.queue.length >= IN_FLIGHT) this.push(await this.queue.shift());
  }
}
