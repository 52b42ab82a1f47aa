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

/**
 * One block on the thread pool. The output buffer holds the whole result
 * (deflate's bound: the block plus 5 bytes per 16 KiB stored block, plus
 * slack), so the block takes one round trip instead of one per 16 KiB of
 * output (zlib's default chunkSize): fewer main-thread callbacks and buffers.
 */
function deflateBlock(block: Buffer, options: ZlibOptions): Promise<Buffer> {
  const chunkSize = Math.max(64 << 10, block.length + (block.length >> 11) + 1024);
  return new Promise((resolve, reject) => deflateRaw(block, { ...options, chunkSize }, (err, out) => (err ? reject(err) : resolve(out))));
}

/** The most a deflate stored block holds. */
const STORED_MAX = 0xffff;

/**
 * `block` as deflate stored blocks (RFC 1951 3.2.4), starting on a byte
 * boundary as every block of ours does: per block a header byte (BFINAL on
 * the very last one, BTYPE 00), LEN and NLEN, then the bytes themselves.
 */
function storedBlocks(block: Buffer, last: boolean): Buffer[] {
  const parts: Buffer[] = [];
  for (let at = 0; at < block.length; at += STORED_MAX) {
    const len = Math.min(STORED_MAX, block.length - at);
    const header = Buffer.alloc(5);
    header[0] = last && at + len === block.length ? 1 : 0;
    header.writeUInt16LE(len, 1);
    header.writeUInt16LE(~len & 0xffff, 3);
    parts.push(header, block.subarray(at, at + len));
  }
  return parts;
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
  private readonly queue: Promise<Buffer[]>[] = [];
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
    while (this.queue.length > 0) this.pushAll(await (this.queue.shift() as Promise<Buffer[]>));
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
   * data: the probe does not shrink) is stored instead, as deflate stored
   * blocks written here (a header and the bytes as they are: no copy, no
   * search for matches). Deterministic: the probe sees only the block's own bytes.
   */
  private async compress(block: Buffer, options: ZlibOptions, last: boolean): Promise<Buffer[]> {
    if (this.level > 0 && block.length >= SAMPLES * SAMPLE * 2) {
      const step = Math.floor(block.length / SAMPLES);
      const probe = Buffer.concat(Array.from({ length: SAMPLES }, (_, i) => block.subarray(i * step, i * step + SAMPLE)));
      const packed = await deflateBlock(probe, { level: 1 });
      if (packed.length >= probe.length * INCOMPRESSIBLE) return storedBlocks(block, last);
    }
    return [await deflateBlock(block, options)];
  }

  private async enqueue(block: Buffer, last: boolean): Promise<void> {
    if (block.length > 0) this.crc = crc32(block, this.crc); // crc32 of nothing answers 0, not the running value
    this.total += block.length;
    const options: ZlibOptions = { level: this.level, finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH };
    if (this.previousTail) options.dictionary = this.previousTail;
    const job = this.compress(block, options, last);
    job.catch(() => {}); // awaited in order below; this only keeps an early failure from being "unhandled"
    this.queue.push(job);
    this.previousTail =
      block.length >= WINDOW || !this.previousTail ? block.subarray(Math.max(0, block.length - WINDOW)) : Buffer.concat([this.previousTail, block]).subarray(-WINDOW);
    while (this.queue.length >= IN_FLIGHT) this.pushAll(await (this.queue.shift() as Promise<Buffer[]>));
  }

  private pushAll(parts: Buffer[]): void {
    for (const p of parts) this.push(p);
  }
}
