import { PassThrough, Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import { CorruptDataError } from '../errors.js';

/**
 * Read at least `n` bytes (or everything, if shorter) from a stream without
 * losing them: returns those bytes and a stream that yields the whole input.
 * The rest of the input is piped through a PassThrough, chunk for chunk, with
 * the source's backpressure: no async iteration per chunk, which cost an image
 * backup about a tenth of its main thread when a whole `docker save` stream
 * and each of its layers went through it.
 */
export function peek(source: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  // A stream destroyed before it is read (a tar entry cut short by the end of a truncated archive) would never answer.
  if (source.destroyed) return Promise.reject(new CorruptDataError('the stream was closed before it was read (truncated input?)'));
  // Other stream implementations (streamx, as tar-stream's entries are) end and fail in their own ways: iterate them.
  if (!(source as { _readableState?: unknown })._readableState) return peekByIteration(source, n);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const cleanup = () => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
    };
    const finish = (ended: boolean) => {
      cleanup();
      const head = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);
      const stream = new PassThrough();
      if (head.length > 0) stream.write(head);
      if (ended) stream.end();
      // pipeline, not pipe: an error or a premature close of the source fails the stream instead of leaving it open.
      else pipeline(source, stream, () => undefined);
      resolve({ head, stream });
    };
    const onData = (chunk: Buffer | string) => {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      chunks.push(buf);
      length += buf.length;
      if (length >= n) {
        source.pause();
        finish(false);
      }
    };
    const onEnd = () => finish(true);
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => onError(new CorruptDataError('the stream closed before its end (truncated input?)'));
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', onError);
    source.on('close', onClose);
  });
}

/** peek() by async iteration: correct for any stream, but a promise per chunk. */
async function peekByIteration(source: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
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
