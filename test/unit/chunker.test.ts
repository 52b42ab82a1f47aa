import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CHUNK_MAX, CHUNK_MIN, Chunker, chunkLengths, chunkStream, gear } from '../../src/volume/chunker.js';

/** Deterministic pseudo-random bytes (AES-128-CTR of zeros under a seed key). */
function pseudoRandom(length: number, seed = 1): Buffer {
  const key = createHash('sha256').update(`seed-${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

function boundaries(lengths: number[]): number[] {
  const out: number[] = [];
  let pos = 0;
  for (const l of lengths) out.push((pos += l));
  return out;
}

const data64 = pseudoRandom(64 * 1024 * 1024);

test('the gear table is the documented one (boundaries are part of the format)', () => {
  const g = gear();
  assert.equal(g.length, 256);
  assert.equal(g[0], createHash('sha256').update('tsbak-gear-0').digest().readInt32LE(0));
  assert.equal(g[255], createHash('sha256').update('tsbak-gear-255').digest().readInt32LE(0));
  // Pinned: the boundaries of this input must never change, or dedup across versions breaks.
  const lengths = chunkLengths(data64.subarray(0, 16 * 1024 * 1024));
  assert.equal(createHash('sha256').update(lengths.join(',')).digest('hex').slice(0, 16), PINNED_16MIB);
});
// sha256 of the comma-joined chunk lengths of pseudoRandom(64 MiB, seed 1)[0, 16 MiB)
const PINNED_16MIB = 'e8f8ad8a7e2c54be';

test('the WebAssembly scanner and the JS reference cut at the same places', () => {
  const wasm = chunkLengths(data64);
  const js = chunkLengths(data64, { useWasm: false });
  assert.deepEqual(wasm, js);
  assert.deepEqual(chunkLengths(data64), wasm, 'deterministic');
});

test('chunks respect min and max; the average is near 1 MiB on random data', () => {
  const lengths = chunkLengths(data64);
  assert.equal(lengths.reduce((a, b) => a + b, 0), data64.length);
  for (const l of lengths.slice(0, -1)) {
    assert.ok(l >= CHUNK_MIN, `chunk of ${l} bytes is below the minimum`);
    assert.ok(l <= CHUNK_MAX, `chunk of ${l} bytes is above the maximum`);
  }
  const mean = data64.length / lengths.length;
  assert.ok(mean > 0.85 * 1024 * 1024 && mean < 1.25 * 1024 * 1024, `mean chunk ${(mean / 1048576).toFixed(3)} MiB`);
  // Zeros never match a mask: every chunk is the maximum, and all are equal (they dedupe).
  const zeros = chunkLengths(new Uint8Array(20 * 1024 * 1024));
  assert.deepEqual(zeros, [CHUNK_MAX, CHUNK_MAX, CHUNK_MAX, CHUNK_MAX, CHUNK_MAX]);
  // Short inputs are one chunk.
  assert.deepEqual(chunkLengths(new Uint8Array(0)), []);
  assert.deepEqual(chunkLengths(data64.subarray(0, 1000)), [1000]);
});

test('an insertion near the start shifts only nearby boundaries', () => {
  const base = data64.subarray(0, 32 * 1024 * 1024);
  const inserted = Buffer.concat([base.subarray(0, 5000), Buffer.from('x'.repeat(777)), base.subarray(5000)]);
  const a = boundaries(chunkLengths(base));
  const b = new Set(boundaries(chunkLengths(inserted)).map((x) => x - 777));
  const kept = a.filter((x) => b.has(x)).length;
  assert.ok(kept >= a.length - 3, `only ${kept} of ${a.length} boundaries survived an insertion of 777 bytes`);
  // A change in the middle leaves the boundaries before it alone.
  const changed = Buffer.from(base);
  changed.fill(0xab, 16 * 1024 * 1024, 16 * 1024 * 1024 + 1024 * 1024);
  const c = new Set(boundaries(chunkLengths(changed)));
  const same = a.filter((x) => c.has(x)).length;
  assert.ok(same >= a.length - 4, `a 1 MiB change moved ${a.length - same} boundaries`);
});

test('chunkStream over odd-sized pieces gives the same chunks', async () => {
  const data = data64.subarray(0, 24 * 1024 * 1024 + 12345);
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for (let off = 0, step = 1; off < data.length; off += step, step = (step * 7 + 13) % 3_000_001) yield data.subarray(off, off + step);
  }
  const got: number[] = [];
  let pos = 0;
  for await (const chunk of chunkStream(pieces(), new Chunker(CHUNK_MAX * 2))) {
    assert.ok(chunk.equals(data.subarray(pos, pos + chunk.length)));
    pos += chunk.length;
    got.push(chunk.length);
  }
  assert.deepEqual(got, chunkLengths(data));
  const fromReadable: number[] = [];
  for await (const chunk of chunkStream(Readable.from([data.subarray(0, 100), data.subarray(100, 5_000_000)]))) fromReadable.push(chunk.length);
  assert.deepEqual(fromReadable, chunkLengths(data.subarray(0, 5_000_000)));
});

test('chunking speed (reported, not asserted)', () => {
  const start = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  chunkLengths(data64);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(start);
  const mb = data64.length / 1e6;
  console.log(`# chunker: ${(mb / wall).toFixed(0)} MB/s wall, ${(mb / ((cpu.user + cpu.system) / 1e6)).toFixed(0)} MB/s per CPU second`);
});
