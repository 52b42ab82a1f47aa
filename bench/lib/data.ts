// Deterministic volume contents for the benchmarks: the same seed gives the same bytes
// on every run and every machine, so repository sizes and deduplication are comparable.
//   - incompressible bytes: an AES-256-CTR keystream keyed by the seed (a seeded PRNG);
//   - compressible text: numbered lines of words drawn by a seeded LCG.
// Files are written in 1 MiB blocks through a stream: nothing the size of a file is held.
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';

export const BLOCK = 1 << 20;

const WORDS = (
  'alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega volume backup restore chunk index snapshot ' +
  'tsbak data layer image engine freeze thaw window repository pack tree node file block hash'
).split(' ');

/** `size` incompressible bytes: block `index` of the keystream seeded by `seed`. */
export function randomBlock(seed: string, index: number, size = BLOCK): Buffer {
  const key = createHash('sha256').update(`tsbak-bench/${seed}`).digest();
  const iv = Buffer.alloc(16);
  // The block index sits above the 64-bit block counter, so blocks never share keystream.
  iv.writeUInt32BE(index >>> 0, 4);
  return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(size));
}

/** `size` bytes of text that compresses about 4× (numbered lines of words), distinct per seed and index. */
export function textBlock(seed: string, index: number, size = BLOCK): Buffer {
  let state = createHash('sha256').update(`tsbak-bench/${seed}/${index}`).digest().readUInt32BE(0);
  const out = Buffer.allocUnsafe(size + 200);
  let len = 0;
  let n = index * 100_000;
  while (len < size) {
    len += out.write(String(n++).padStart(10, '0'), len, 'latin1');
    for (let i = 0; i < 8; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      out[len++] = 0x20;
      len += out.write(WORDS[state % WORDS.length]!, len, 'latin1');
    }
    out[len++] = 0x0a;
  }
  return out.subarray(0, size);
}

/** Block `i` of a mixed file: even blocks random, odd blocks text (half incompressible). */
export function mixedBlock(seed: string, index: number, size = BLOCK): Buffer {
  return index % 2 === 0 ? randomBlock(seed, index, size) : textBlock(seed, index, size);
}

export type Kind = 'random' | 'text' | 'mixed';

function block(kind: Kind, seed: string, index: number, size: number): Buffer {
  if (kind === 'random') return randomBlock(seed, index, size);
  if (kind === 'text') return textBlock(seed, index, size);
  return mixedBlock(seed, index, size);
}

/** Writes `size` bytes of `kind` data to `file`, block by block. */
export async function writeFile(file: string, size: number, kind: Kind, seed: string): Promise<void> {
  const out = createWriteStream(file);
  const done = new Promise<void>((resolve, reject) => {
    out.on('error', reject);
    out.on('finish', resolve);
  });
  for (let i = 0, written = 0; written < size; i++) {
    const n = Math.min(BLOCK, size - written);
    if (!out.write(block(kind, seed, i, n))) await new Promise<void>((r) => out.once('drain', () => r()));
    written += n;
  }
  out.end();
  await done;
}

/**
 * `count` text files totalling about `totalBytes`, 100 per subdirectory (d000/, d001/, …).
 * Sizes vary deterministically from 0.2× to 1.8× the mean. Returns the bytes written.
 */
export async function writeSmallFiles(dir: string, count: number, totalBytes: number, seed: string): Promise<number> {
  const mean = totalBytes / Math.max(1, count);
  let state = createHash('sha256').update(`tsbak-bench/${seed}/sizes`).digest().readUInt32BE(0);
  let total = 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const size = Math.max(1, Math.round(mean * (0.2 + (1.6 * state) / 2 ** 32)));
    const sub = path.join(dir, `d${String(Math.floor(i / 100)).padStart(3, '0')}`);
    if (i % 100 === 0) await fsp.mkdir(sub, { recursive: true });
    // Small files fit one block: write them whole.
    if (size <= BLOCK) await fsp.writeFile(path.join(sub, `f${String(i).padStart(5, '0')}.txt`), textBlock(`${seed}/${i}`, 0, size));
    else await writeFile(path.join(sub, `f${String(i).padStart(5, '0')}.txt`), size, 'text', `${seed}/${i}`);
    total += size;
  }
  return total;
}

/**
 * Overwrites `length` bytes in the middle of `file` (offset: half its size, 4 KiB aligned)
 * with random bytes seeded by `seed`: the same change for the same seed, a new one per seed.
 */
export async function changeMiddle(file: string, seed: string, length = BLOCK): Promise<number> {
  const fh = await fsp.open(file, 'r+');
  try {
    const { size } = await fh.stat();
    const offset = Math.max(0, Math.floor(size / 2 / 4096) * 4096);
    const bytes = randomBlock(`change/${seed}`, 0, Math.min(length, size - offset));
    await fh.write(bytes, 0, bytes.length, offset);
    return offset;
  } finally {
    await fh.close();
  }
}
