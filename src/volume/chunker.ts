/**
 * Content-defined chunking (FastCDC, gear hash with normalized chunking).
 *
 * Chunk boundaries are part of the repository format: two hosts that chunk the
 * same bytes must cut them at the same places, or nothing deduplicates. So the
 * parameters and the gear table below are fixed (docs/FORMAT.md, "Chunks"):
 *
 * - gear table: GEAR[i] = the first 4 bytes, read as a little-endian int32, of
 *   SHA-256 of the ASCII string `tsbak-gear-<i>` (i = 0..255 in decimal);
 * - rolling hash: h = (h << 1) + GEAR[byte], 32-bit wrap-around, reset to 0 at
 *   the start of every chunk; hashing starts at offset CHUNK_MIN of the chunk;
 * - a boundary follows the byte at which (h & MASK) == 0, with MASK_S (21 high
 *   bits) before offset CHUNK_NORMAL and MASK_L (19 high bits) from there on
 *   (normalization level 1: level 2 averaged 2.8 new chunks, up to 5, for a
 *   1 MiB change inside a large file; level 1 averages 2.1, at most 3);
 *   the high bits are used because bit k of a gear hash depends on the last
 *   k+1 bytes only;
 * - a chunk is at least CHUNK_MIN bytes (unless the input ends) and at most CHUNK_MAX.
 *
 * The scan runs in a tiny WebAssembly function over a fixed memory into which
 * files are read directly (about twice the speed of the same loop in JS); the
 * JS implementation is the reference and the fallback, and both must agree.
 */
import { createHash } from 'node:crypto';

export const CHUNK_MIN = 256 * 1024;
export const CHUNK_AVG = 1024 * 1024;
export const CHUNK_MAX = 4 * 1024 * 1024;
/** Where the harder mask gives way to the easier one: 768 KiB, for a mean chunk near 1 MiB (1.07 MiB on random data). */
export const CHUNK_NORMAL = CHUNK_AVG - CHUNK_MIN;
/** 21 high bits: log2(CHUNK_AVG) + 1. */
export const MASK_S = 0xfffff800 | 0;
/** 19 high bits: log2(CHUNK_AVG) - 1. */
export const MASK_L = 0xffffe000 | 0;

let gearTable: Int32Array | undefined;

/** The fixed gear table (see the module comment for its derivation). */
export function gear(): Int32Array {
  if (!gearTable) {
    gearTable = new Int32Array(256);
    for (let i = 0; i < 256; i++) gearTable[i] = createHash('sha256').update(`tsbak-gear-${i}`).digest().readInt32LE(0);
  }
  return gearTable;
}

/**
 * The end (exclusive) of the chunk that starts at `start`, in data[start, end).
 * When `eof` is false and fewer than CHUNK_MAX bytes are available, the answer
 * could depend on bytes not yet seen: returns -1 (read more first).
 * The reference implementation, in plain JS.
 */
export function cutPointJs(data: Uint8Array, start: number, end: number, eof: boolean): number {
  const n = end - start;
  if (!eof && n < CHUNK_MAX) return -1;
  if (n <= CHUNK_MIN) return end;
  const g = gear();
  const lim = n < CHUNK_MAX ? end : start + CHUNK_MAX;
  const norm = n < CHUNK_NORMAL ? end : start + CHUNK_NORMAL;
  let h = 0;
  let i = start + CHUNK_MIN;
  for (; i < norm; i++) {
    h = ((h << 1) + (g[data[i] as number] as number)) | 0;
    if ((h & MASK_S) === 0) return i + 1;
  }
  for (; i < lim; i++) {
    h = ((h << 1) + (g[data[i] as number] as number)) | 0;
    if ((h & MASK_L) === 0) return i + 1;
  }
  return lim;
}

// --- the WebAssembly scanner -------------------------------------------------

/**
 * A module with one function, cut(i, norm, lim, maskS, maskL) -> i32: the gear
 * loop of cutPointJs over memory addresses, with the gear table at address 0.
 * Assembled here byte by byte (no toolchain needed); about 120 bytes.
 */
function scannerModule(): Uint8Array {
  const uleb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };
  const name = (s: string): number[] => [s.length, ...Buffer.from(s, 'ascii')];
  const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
  // Locals: 0 i, 1 norm, 2 lim, 3 maskS, 4 maskL (parameters), 5 h.
  const I = 0, NORM = 1, LIM = 2, MS = 3, ML = 4, H = 5;
  const op = { block: 0x02, loop: 0x03, if: 0x04, end: 0x0b, br: 0x0c, brIf: 0x0d, ret: 0x0f, get: 0x20, set: 0x21, load: 0x28, load8u: 0x2d, const: 0x41, eqz: 0x45, geU: 0x4f, add: 0x6a, and: 0x71, shl: 0x74, void: 0x40, i32: 0x7f };
  const scan = (bound: number, mask: number): number[] => [
    op.block, op.void, op.loop, op.void,
    op.get, I, op.get, bound, op.geU, op.brIf, 1, // if (i >= bound) break
    op.get, H, op.const, 1, op.shl, // h << 1
    op.get, I, op.load8u, 0, 0, op.const, 2, op.shl, op.load, 2, 0, // GEAR[data[i]]
    op.add, op.set, H,
    op.get, I, op.const, 1, op.add, op.set, I, // i++
    op.get, H, op.get, mask, op.and, op.eqz, op.if, op.void, op.get, I, op.ret, op.end, // boundary after byte i-1
    op.br, 0,
    op.end, op.end,
  ];
  const body = [1, 1, op.i32, ...scan(NORM, MS), ...scan(LIM, ML), op.get, LIM, op.end];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 5, op.i32, op.i32, op.i32, op.i32, op.i32, 1, op.i32]), // type (i32 x5) -> i32
    ...section(2, [1, ...name('e'), ...name('m'), 0x02, 0x00, ...uleb(1)]), // import memory e.m
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('cut'), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

/** The part of the WebAssembly JS API used here (the project's lib settings do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (descriptor: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | null | undefined;

function scanner(): object | null {
  if (compiled === undefined) {
    try {
      if (!wasmApi) throw new Error('no WebAssembly');
      compiled = new wasmApi.Module(scannerModule());
    } catch {
      compiled = null; // no WebAssembly: the JS loop gives the same boundaries, slower
    }
  }
  return compiled;
}

const GEAR_BYTES = 1024;
const PAGE = 65536;
/** Default working buffer: room for a maximal chunk plus large reads. */
export const DEFAULT_BUFFER = 8 * 1024 * 1024;

/**
 * A chunking buffer: bytes go into `buffer` (read there directly from a file,
 * or copied in), and cut() finds boundaries in it. One per concurrent reader.
 */
export class Chunker {
  /** The working buffer; callers fill [0, capacity). */
  readonly buffer: Uint8Array;
  private readonly wasmCut: ((i: number, norm: number, lim: number, ms: number, ml: number) => number) | undefined;

  constructor(capacity = DEFAULT_BUFFER, options: { useWasm?: boolean } = {}) {
    if (capacity < CHUNK_MAX) throw new RangeError(`chunker buffer must hold at least ${CHUNK_MAX} bytes`);
    const module = options.useWasm === false ? null : scanner();
    if (module && wasmApi) {
      const pages = Math.ceil((capacity + GEAR_BYTES) / PAGE);
      const memory = new wasmApi.Memory({ initial: pages, maximum: pages });
      new Int32Array(memory.buffer, 0, 256).set(gear());
      const instance = new wasmApi.Instance(module, { e: { m: memory } });
      this.wasmCut = instance.exports.cut as (i: number, norm: number, lim: number, ms: number, ml: number) => number;
      this.buffer = new Uint8Array(memory.buffer, GEAR_BYTES, capacity);
    } else {
      this.buffer = new Uint8Array(capacity);
    }
  }

  get capacity(): number {
    return this.buffer.length;
  }

  /** As cutPointJs, over this.buffer. */
  cut(start: number, end: number, eof: boolean): number {
    const n = end - start;
    if (!eof && n < CHUNK_MAX) return -1;
    if (n <= CHUNK_MIN) return end;
    if (!this.wasmCut) return cutPointJs(this.buffer, start, end, eof);
    const lim = n < CHUNK_MAX ? end : start + CHUNK_MAX;
    const norm = n < CHUNK_NORMAL ? end : start + CHUNK_NORMAL;
    return this.wasmCut(GEAR_BYTES + start + CHUNK_MIN, GEAR_BYTES + norm, GEAR_BYTES + lim, MASK_S, MASK_L) - GEAR_BYTES;
  }

  /** Move data[start, end) to the front of the buffer; returns the new end. */
  compact(start: number, end: number): number {
    if (start > 0) this.buffer.copyWithin(0, start, end);
    return end - start;
  }
}

/** The chunk lengths of an in-memory byte string (tests, small inputs). */
export function chunkLengths(data: Uint8Array, options: { useWasm?: boolean } = {}): number[] {
  if (options.useWasm === false) {
    const out: number[] = [];
    for (let s = 0; s < data.length; ) {
      const e = cutPointJs(data, s, data.length, true);
      out.push(e - s);
      s = e;
    }
    return out;
  }
  const lengths: number[] = [];
  const chunker = new Chunker(Math.max(CHUNK_MAX * 2, Math.min(DEFAULT_BUFFER, data.length)), options);
  let start = 0;
  let end = 0;
  let offset = 0;
  for (;;) {
    end = chunker.compact(start, end);
    start = 0;
    const take = Math.min(chunker.capacity - end, data.length - offset);
    chunker.buffer.set(data.subarray(offset, offset + take), end);
    end += take;
    offset += take;
    const eof = offset >= data.length;
    for (;;) {
      if (start === end) break;
      const cut = chunker.cut(start, end, eof);
      if (cut < 0) break;
      lengths.push(cut - start);
      start = cut;
    }
    if (eof) return lengths;
  }
}

/**
 * Chunk a byte stream without holding it: yields each chunk as a new Buffer.
 * Memory: the chunker's buffer plus one chunk.
 */
export async function* chunkStream(source: AsyncIterable<Uint8Array>, chunker = new Chunker()): AsyncGenerator<Buffer> {
  let start = 0;
  let end = 0;
  const drain = function* (eof: boolean): Generator<Buffer> {
    while (start < end) {
      const cut = chunker.cut(start, end, eof);
      if (cut < 0) return;
      yield Buffer.from(chunker.buffer.subarray(start, cut));
      start = cut;
    }
  };
  for await (const piece of source) {
    let offset = 0;
    while (offset < piece.length) {
      if (end === chunker.capacity) {
        end = chunker.compact(start, end);
        start = 0;
      }
      const take = Math.min(chunker.capacity - end, piece.length - offset);
      chunker.buffer.set(piece.subarray(offset, offset + take), end);
      end += take;
      offset += take;
      yield* drain(false);
    }
  }
  yield* drain(true);
}
