/**
 * Worker thread of CompressPool: zstd-compresses chunks in place.
 * In: { id, buffer, length } (buffer transferred; the chunk is its first
 * `length` bytes). Out: { id, buffer, length } with the zstd frame in the same
 * buffer (transferred back), or { id, buffer, error }.
 *
 * Buffers travel back and forth and are reused, and zstd writes into one
 * scratch buffer per worker: memory stays flat however large the volume.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type * as Binding from 'zstd-napi/binding.js';

const port = parentPort;
if (!port) throw new Error('compress-worker must run as a worker thread');
const binding = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof Binding;
const cctx = new binding.CCtx();
cctx.setParameter(binding.CParameter.compressionLevel, (workerData as { level: number }).level);
cctx.setParameter(binding.CParameter.checksumFlag, 1);
let scratch = new Uint8Array(0);

port.on('message', (msg: { id: number; buffer: ArrayBuffer; length: number }) => {
  try {
    const bound = binding.compressBound(msg.length);
    if (scratch.length < bound) scratch = new Uint8Array(bound);
    const n = cctx.compress2(scratch, new Uint8Array(msg.buffer, 0, msg.length));
    if (n > msg.buffer.byteLength) throw new Error(`compressed chunk (${n} bytes) does not fit its ${msg.buffer.byteLength}-byte buffer`);
    new Uint8Array(msg.buffer).set(scratch.subarray(0, n));
    port.postMessage({ id: msg.id, buffer: msg.buffer, length: n }, [msg.buffer]);
  } catch (err) {
    port.postMessage({ id: msg.id, buffer: msg.buffer, error: err instanceof Error ? err.message : String(err) }, [msg.buffer]);
  }
});
