import { PassThrough } from 'node:stream';
import type { EngineClient } from './client.js';
import type { BlobSource } from '../../repo/blob-store.js';
import type { ImageRecord } from '../../image/model.js';
import { writeImageArchive } from '../../image/archive/writer.js';
import { EngineError, errorMessage } from '../../errors.js';

/**
 * Stream images into the engine with POST /images/load. The engine answers
 * 200 at once and reports failures inside its JSON message stream, so the
 * stream is read to the end and any `error` in it becomes an EngineError.
 *
 * The layers are not hashed on the way: docker load computes every layer's
 * diffID itself and refuses one that differs from the config's ("invalid
 * diffID for layer N"), and the repository's zstd frames are checked by their
 * content checksum as they are decompressed. `tsbak check --read-data` still
 * verifies every digest in the repository.
 */
export async function loadImagesIntoEngine(client: EngineClient, images: ImageRecord[], source: BlobSource): Promise<string[]> {
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  const writing = writeImageArchive(images, source, body, { verify: false }).catch((err: unknown) => {
    body.destroy(err as Error);
    throw err;
  });
  const loading = (async () => {
    const res = await client.request('POST', '/images/load', { query: { quiet: '1' }, body, headers: { 'Content-Type': 'application/x-tar' } });
    return parseLoadStream(res);
  })();
  const [written, loaded] = await Promise.allSettled([writing, loading]);
  // A failure to produce the archive (a missing blob) explains the engine's complaint better: report it first.
  if (written.status === 'rejected') throw written.reason;
  if (loaded.status === 'rejected') throw loaded.reason;
  return loaded.value;
}

async function parseLoadStream(res: AsyncIterable<Buffer | string>): Promise<string[]> {
  const loaded: string[] = [];
  let pending = '';
  const handle = (line: string) => {
    if (!line.trim()) return;
    let message: { stream?: string; error?: string; errorDetail?: { message?: string } };
    try {
      message = JSON.parse(line) as typeof message;
    } catch (err) {
      throw new EngineError(`unexpected answer from the engine to an image load: ${line.slice(0, 200)} (${errorMessage(err)})`);
    }
    if (message.error || message.errorDetail) {
      throw new EngineError(`the engine refused the image load: ${message.errorDetail?.message ?? message.error}`);
    }
    const m = /Loaded image(?: ID)?: (\S+)/.exec(message.stream ?? '');
    if (m?.[1]) loaded.push(m[1]);
  };
  for await (const chunk of res) {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    lines.forEach(handle);
  }
  handle(pending);
  return loaded;
}
