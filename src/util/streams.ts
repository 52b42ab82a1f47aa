import { Readable, Transform, type TransformCallback } from 'node:stream';
import { CorruptDataError } from '../errors.js';

/**
 * Read at least `n` bytes (or everything, if shorter) from a stream without
 * losing them: returns those bytes and a stream that yields the whole input.
 */
export async function peek(source: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < n) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    chunks.push(chunk);
    length += chunk.length;
  }
  const head = Buffer.concat(chunks);
  async function* replay(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { head, stream: Readable.from(replay(), { objectMode: false }) };
}

/** A pass-through that hands every chunk to `observe` (hashing, counting). */
export function tap(observe: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      observe(chunk);
      callback(null, chunk);
    },
  });
}

/** Collect a stream into memory, refusing more than `limit` bytes (for small documents). */
export async function readAll(source: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of source) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    length += buf.length;
    if (length > limit) throw new CorruptDataError(`${what} is larger than ${limit} bytes; refusing to read it into memory`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/**
 * Gather small chunks (sockets and tar entries give 16–64 KiB) into blocks of
 * about `size` bytes, so hashing and compression run with less per-call
 * overhead and garbage. One block is held at a time.
 */
export function rebuffer(size = 1 << 20): Transform {
  let parts: Buffer[] = [];
  let length = 0;
  return new Transform({
    readableHighWaterMark: 2,
    readableObjectMode: false,
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      parts.push(chunk);
      length += chunk.length;
      if (length >= size) {
        const block = Buffer.concat(parts, length);
        parts = [];
        length = 0;
        callback(null, block);
      } else callback();
    },
    flush(callback: TransformCallback) {
      callback(null, length > 0 ? Buffer.concat(parts, length) : undefined);
    },
  });
}
