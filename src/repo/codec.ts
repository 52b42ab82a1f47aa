/**
 * The one way objects go into and come out of a repository: compress (zstd) then
 * seal, open then decompress. A Sealer is the encryption step (AES-256-GCM in
 * format 2, see crypto.ts) or the null sealer (format 1, and format 2 created with
 * --insecure-no-password). The associated data of a sealed object is its handle
 * (`type/name`), so the right ciphertext under another name does not open.
 *
 * Format 1 compresses only blobs (configs, index files and snapshots are plain
 * JSON); format 2 compresses every object.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { compress as zstdCompress, decompress as zstdDecompress } from 'zstd-napi';
import { handleString, type FileType, type Handle } from './format.js';
import { ZSTD_LEVEL, decompressor, zstdCompressor } from '../util/compression.js';
import { CorruptDataError, errorMessage } from '../errors.js';
import { digestHex, type Digest } from '../util/digest.js';

/** An object that failed authentication (tampered, corrupted, or stored under another name). */
export class AuthenticationError extends CorruptDataError {}

export interface Sealer {
  /** True when objects are encrypted (false: the null sealer). */
  readonly encrypts: boolean;
  seal(aad: string, plain: Buffer): Buffer;
  /** Throws AuthenticationError when the object does not open under `aad`. */
  open(aad: string, sealed: Buffer): Buffer;
  /** A streaming seal; `aad` is asked for once the input has ended (a loose blob's name is its content's). */
  sealStream(aad: () => string): Transform;
  openStream(aad: string): Transform;
  /** The object name for a plaintext digest: HMAC-SHA256 under the name key, or the digest's hex. */
  name(digest: Digest): string;
}

/** No encryption: objects are stored as the compressor leaves them. */
export const NULL_SEALER: Sealer = {
  encrypts: false,
  seal: (_aad, plain) => plain,
  open: (_aad, sealed) => sealed,
  sealStream: () => passThrough(),
  openStream: () => passThrough(),
  name: (digest) => digestHex(digest),
};

function passThrough(): Transform {
  return new Transform({
    transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback) {
      cb(null, chunk);
    },
  });
}

export class Codec {
  constructor(
    /** Repository format version: which objects are compressed. */
    readonly version: number,
    readonly sealer: Sealer = NULL_SEALER,
  ) {}

  /** Whether objects of this type are zstd-compressed before sealing. */
  compresses(type: FileType): boolean {
    if (type === 'key') return false;
    return this.version >= 2 || type === 'blob';
  }

  encode(h: Handle, plain: Buffer): Buffer {
    const data = this.compresses(h.type) ? zstdCompress(plain, { compressionLevel: ZSTD_LEVEL, checksumFlag: true }) : plain;
    return this.sealer.seal(handleString(h), data);
  }

  /** Seal a blob already compressed (by the compression worker pool) as one zstd frame with a checksum. */
  sealCompressed(h: Handle, frame: Buffer): Buffer {
    return this.sealer.seal(handleString(h), frame);
  }

  decode(h: Handle, stored: Buffer): Buffer {
    const data = this.sealer.open(handleString(h), stored);
    if (!this.compresses(h.type)) return data;
    try {
      return zstdDecompress(data);
    } catch (err) {
      throw new CorruptDataError(`${handleString(h)} cannot be decompressed: ${errorMessage(err)} (repository corrupted? run \`tsbak check\`)`);
    }
  }

  /** Stages that encode a stream; `name` gives the handle's name once the input has ended. */
  encodeStream(type: FileType, name: () => string, sizeHint?: number): Transform[] {
    const seal = this.sealer.sealStream(() => handleString({ type, name: name() }));
    return this.compresses(type) ? [zstdCompressor(sizeHint), seal] : [seal];
  }

  /** Stages that decode a stream (open, then decompress). */
  decodeStream(h: Handle): Transform[] {
    const open = this.sealer.openStream(handleString(h));
    return this.compresses(h.type) ? [open, decompressor('zstd')] : [open];
  }

  /** The name of an object named by its content: the MAC of its plaintext digest (its hex when nothing is sealed). */
  nameOf(digest: Digest): string {
    return this.sealer.name(digest);
  }
}
