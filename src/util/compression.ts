import { createGunzip } from 'node:zlib';
import { PassThrough, type Transform } from 'node:stream';
import { CompressStream, DecompressStream } from 'zstd-napi';

export type Compression = 'none' | 'gzip' | 'zstd';

/** Level 3 is zstd's default: the ratio of `zstd -3` at a speed above disk. */
export const ZSTD_LEVEL = 3;
/** Above this size zstd's own worker threads pay for themselves (both cores). */
const MULTITHREAD_THRESHOLD = 4 * 1024 * 1024;

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

export function zstdCompressor(sizeHint?: number): Transform {
  const big = sizeHint === undefined || sizeHint > MULTITHREAD_THRESHOLD;
  // jobSize 1 MiB: zstd's default job (several MiB per worker) doubles the peak memory for no speed.
  return new CompressStream({ compressionLevel: ZSTD_LEVEL, nbWorkers: big ? 2 : 0, checksumFlag: true, ...(big ? { jobSize: 1 << 20 } : {}) });
}

export function decompressor(kind: Compression): Transform {
  switch (kind) {
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return new DecompressStream();
    case 'none':
      return new PassThrough();
  }
}
