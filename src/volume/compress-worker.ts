/**
 * Worker thread of CompressPool: zstd-compresses the chunks it is sent.
 * In: { id, data: Uint8Array } (the buffer is transferred). Out: { id, out } or { id, error }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Compressor } from 'zstd-napi';

const port = parentPort;
if (!port) throw new Error('compress-worker must run as a worker thread');
const compressor = new Compressor();
compressor.setParameters({ compressionLevel: (workerData as { level: number }).level, checksumFlag: true });

port.on('message', (msg: { id: number; data: Uint8Array }) => {
  try {
    const result = compressor.compress(msg.data);
    // A new exact-size buffer of our own, so it can be transferred (zstd-napi may hand back pooled memory).
    const out = new Uint8Array(result.length);
    out.set(result);
    port.postMessage({ id: msg.id, out }, [out.buffer]);
  } catch (err) {
    port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  }
});
