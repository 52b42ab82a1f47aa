/**
 * Format 2's sealer: AES-256-GCM in a segmented (STREAM) construction, and the
 * names of content objects as HMAC-SHA256 under the name key.
 *
 * A sealed object is `salt (16 bytes) | segment 0 | … | segment n`. Each segment
 * is at most 64 KiB of plaintext, encrypted and followed by its 16-byte GCM tag.
 * The object's key is HMAC-SHA256(encryption key, salt), so segments of two objects
 * never open under each other's key; the nonce of segment i is the first 7 bytes of
 * the salt, i as a big-endian uint32, and a byte that is 1 on the last segment only,
 * so reordering, truncation at a segment boundary and extension all fail. The last
 * segment carries the object's handle (`type/name`) as associated data, so the right
 * ciphertext under another name fails too (the others carry none: a loose blob's name
 * is only known once its content has streamed through).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AuthenticationError, type Sealer } from './codec.js';
import { digestHex, type Digest } from '../util/digest.js';

export const SEGMENT = 64 * 1024;
const TAG = 16;
const SALT = 16;

/** The repository's master key: what keys/ files wrap. */
export interface MasterKey {
  /** AES-256 key of every object. */
  encrypt: Buffer;
  /** HMAC-SHA256 key of object names. */
  mac: Buffer;
}

export function newMasterKey(): MasterKey {
  return { encrypt: randomBytes(32), mac: randomBytes(32) };
}

function nonce(salt: Buffer, i: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  salt.copy(n, 0, 0, 7);
  n.writeUInt32BE(i, 7);
  n[11] = last ? 1 : 0;
  return n;
}

class Segments {
  private i = 0;
  constructor(
    private readonly key: Buffer,
    private readonly salt: Buffer,
  ) {}

  seal(plain: Buffer, last: boolean, aad: string): Buffer {
    const c = createCipheriv('aes-256-gcm', this.key, nonce(this.salt, this.i++, last));
    if (last) c.setAAD(Buffer.from(aad));
    const out = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
    return out;
  }

  open(sealed: Buffer, last: boolean, aad: string): Buffer {
    if (sealed.length < TAG) throw new Error('segment shorter than its tag');
    const d = createDecipheriv('aes-256-gcm', this.key, nonce(this.salt, this.i++, last));
    if (last) d.setAAD(Buffer.from(aad));
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]);
  }
}

/** A growing byte queue for the streaming transforms. */
class Queue {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }
  take(n: number): Buffer {
    const all = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.parts = rest.length ? [rest] : [];
    this.length = rest.length;
    return head;
  }
}

export class AeadSealer implements Sealer {
  readonly encrypts = true;
  constructor(private readonly master: MasterKey) {}

  private objectKey(salt: Buffer): Buffer {
    return createHmac('sha256', this.master.encrypt).update(salt).digest();
  }

  name(digest: Digest): string {
    return createHmac('sha256', this.master.mac).update(digestHex(digest)).digest('hex');
  }

  seal(aad: string, plain: Buffer): Buffer {
    const salt = randomBytes(SALT);
    const seg = new Segments(this.objectKey(salt), salt);
    const out: Buffer[] = [salt];
    let off = 0;
    while (plain.length - off > SEGMENT) {
      out.push(seg.seal(plain.subarray(off, off + SEGMENT), false, aad));
      off += SEGMENT;
    }
    out.push(seg.seal(plain.subarray(off), true, aad));
    return Buffer.concat(out);
  }

  open(aad: string, sealed: Buffer): Buffer {
    if (sealed.length < SALT + TAG) throw new AuthenticationError(`${aad} failed authentication: ${sealed.length} bytes is too short for a sealed object (tampered or corrupted)`);
    const salt = sealed.subarray(0, SALT);
    const seg = new Segments(this.objectKey(salt), salt);
    const out: Buffer[] = [];
    let off = SALT;
    try {
      while (sealed.length - off > SEGMENT + TAG) {
        out.push(seg.open(sealed.subarray(off, off + SEGMENT + TAG), false, aad));
        off += SEGMENT + TAG;
      }
      out.push(seg.open(sealed.subarray(off), true, aad));
    } catch {
      throw authFailure(aad);
    }
    return Buffer.concat(out);
  }

  sealStream(aad: () => string): Transform {
    const salt = randomBytes(SALT);
    const seg = new Segments(this.objectKey(salt), salt);
    const q = new Queue();
    let started = false;
    return new Transform({
      transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback) {
        if (!started) {
          started = true;
          this.push(salt);
        }
        q.push(chunk);
        while (q.length > SEGMENT) this.push(seg.seal(q.take(SEGMENT), false, ''));
        cb();
      },
      flush(cb: TransformCallback) {
        try {
          if (!started) this.push(salt);
          cb(null, seg.seal(q.take(q.length), true, aad()));
        } catch (err) {
          cb(err as Error);
        }
      },
    });
  }

  openStream(aad: string): Transform {
    const key = (salt: Buffer) => this.objectKey(salt);
    const q = new Queue();
    let seg: Segments | undefined;
    return new Transform({
      transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback) {
        q.push(chunk);
        try {
          if (!seg) {
            if (q.length < SALT) return cb();
            const salt = Buffer.from(q.take(SALT));
            seg = new Segments(key(salt), salt);
          }
          while (q.length > SEGMENT + TAG) this.push(seg.open(q.take(SEGMENT + TAG), false, aad));
          cb();
        } catch {
          cb(authFailure(aad));
        }
      },
      flush(cb: TransformCallback) {
        try {
          if (!seg) throw new Error('short');
          cb(null, seg.open(q.take(q.length), true, aad));
        } catch {
          cb(authFailure(aad));
        }
      },
    });
  }
}

function authFailure(what: string): AuthenticationError {
  return new AuthenticationError(
    `${what} failed authentication: it was changed, truncated or stored under another name (tampered or corrupted; run \`tsbak check\`)`,
  );
}
