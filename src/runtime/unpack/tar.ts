/**
 * A streaming tar reader for image layers: ustar, GNU (long names `L`/`K`,
 * base-256 numbers) and POSIX pax (`x` and global `g` records), as Docker,
 * BuildKit, containerd and GNU tar write layers.
 *
 * Why not tar-stream (the project's archive parser): it decodes pax values as
 * UTF-8 text, so a binary xattr such as `security.capability` (bytes ≥ 0x80)
 * reaches the caller corrupted, and it drops the raw bytes of non-UTF-8 names.
 * Here every name is a *byte string*: a JS string with one char per byte
 * (latin1), so nothing is lost; `displayName` turns one into readable text, and
 * src/sys/fsat.ts's `cPath` into a system call argument. Xattr values stay Buffers.
 *
 * Memory is bounded: file data is handed on in the pieces the source delivers
 * (never a whole file), and only headers and pax records (≤ 8 MiB) are held.
 */
import { LayerFormatError } from './errors.js';

export const enum EntryType {
  File = 0x30, // '0' (and NUL, and '7' contiguous)
  Link = 0x31, // '1'
  Symlink = 0x32, // '2'
  CharDevice = 0x33, // '3'
  BlockDevice = 0x34, // '4'
  Directory = 0x35, // '5'
  Fifo = 0x36, // '6'
}

export interface TarEntry {
  /** The member name, a byte string (latin1), as written (not normalised). */
  name: string;
  /** Raw type flag (EntryType for the types a layer may hold; anything else is unsupported). */
  type: number;
  /** Link target (hard or symbolic), a byte string. */
  linkname: string;
  /** Permission bits including setuid, setgid and sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  atimeSec: number;
  atimeNsec: number;
  devmajor: number;
  devminor: number;
  /** Extended attributes (SCHILY.xattr.* and LIBARCHIVE.xattr.*), name (byte string) → value. */
  xattrs: Map<string, Buffer> | undefined;
  /** Byte offset of the entry's header in the stream (for messages). */
  offset: number;
}

export interface TarHandler {
  /** A new entry; its data (for regular files) follows through `data`, then `end`. */
  entry(entry: TarEntry): void | Promise<void>;
  data(piece: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
}

const BLOCK = 512;
/** pax and GNU long-name records larger than this are refused (xattrs are ≤ 64 KiB each on Linux). */
const META_LIMIT = 8 << 20;

const enum State {
  Header,
  Data,
  Skip,
  Meta,
  End,
}

/** A byte string as readable text for messages (decoded as UTF-8). */
export function displayName(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s) ? s : Buffer.from(s, 'latin1').toString('utf8');
}

function cstr(buf: Buffer, start: number, len: number): string {
  let end = start;
  const stop = start + len;
  while (end < stop && buf[end] !== 0) end++;
  return buf.toString('latin1', start, end);
}

/** An octal (space/NUL padded) or base-256 number field. */
function num(buf: Buffer, start: number, len: number, what: string, offset: number): number {
  const first = buf[start] as number;
  if (first & 0x80) {
    // base-256: big-endian two's complement after the marker bit (GNU, star)
    const inv = first & 0x40 ? 0xff : 0;
    let v = 0;
    for (let i = start; i < start + len; i++) {
      let c = (buf[i] as number) ^ inv;
      if (i === start) c &= 0x7f;
      v = v * 256 + c;
    }
    if (inv) v = -v - 1;
    if (!Number.isSafeInteger(v)) throw new LayerFormatError(`the ${what} field of the tar header at offset ${offset} is out of range`);
    return v;
  }
  let i = start;
  const stop = start + len;
  while (i < stop && (buf[i] === 0x20 || buf[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  for (; i < stop; i++) {
    const c = buf[i] as number;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw new LayerFormatError(`the ${what} field of the tar header at offset ${offset} is not an octal number; the layer is corrupt or not a tar archive`);
    v = v * 8 + (c - 0x30);
    digits++;
  }
  if (digits === 0) return 0;
  return v;
}

function checksumOk(h: Buffer, offset: number): boolean {
  const stored = num(h, 148, 8, 'checksum', offset);
  // the checksum field itself counts as eight spaces
  let unsigned = 8 * 0x20;
  for (let i = 0; i < 148; i++) unsigned += h[i] as number;
  for (let i = 156; i < BLOCK; i++) unsigned += h[i] as number;
  if (stored === unsigned) return true;
  // some old writers summed signed chars
  let signed = unsigned;
  for (let i = 0; i < BLOCK; i++) if ((i < 148 || i >= 156) && (h[i] as number) > 127) signed -= 256;
  return stored === signed;
}

const MAGICS: [string, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
];

function refuseCompressed(head: Buffer): void {
  for (const [name, magic] of MAGICS) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) {
      throw new LayerFormatError(`the layer is not a tar archive but ${name}-compressed data; decompress it first`);
    }
  }
}

function padOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function isZeroBlock(h: Buffer): boolean {
  for (let i = 0; i < BLOCK; i += 4) if (h.readUInt32LE(i) !== 0) return false;
  return true;
}

interface PaxRecords {
  [key: string]: Buffer;
}

/** Parses pax records `LEN KEY=VALUE\n`; keys as byte strings, values as raw bytes. */
function parsePax(buf: Buffer, offset: number): PaxRecords {
  const out: PaxRecords = Object.create(null) as PaxRecords;
  let at = 0;
  while (at < buf.length) {
    if (buf[at] === 0) break; // padding
    let sp = at;
    let len = 0;
    while (sp < buf.length && buf[sp] !== 0x20) {
      const c = buf[sp] as number;
      if (c < 0x30 || c > 0x39) throw new LayerFormatError(`malformed pax record at offset ${offset}: bad length`);
      len = len * 10 + (c - 0x30);
      sp++;
    }
    if (len <= 0 || at + len > buf.length || sp >= at + len || buf[at + len - 1] !== 0x0a) {
      throw new LayerFormatError(`malformed pax record at offset ${offset}`);
    }
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= at + len - 1) throw new LayerFormatError(`malformed pax record at offset ${offset}: no '='`);
    const key = buf.toString('latin1', sp + 1, eq);
    out[key] = buf.subarray(eq + 1, at + len - 1);
    at += len;
  }
  return out;
}

function paxTime(v: Buffer): [number, number] {
  const s = v.toString('latin1', 0, v.length);
  const m = /^(-?)(\d+)(?:\.(\d{0,9})\d*)?$/.exec(s);
  if (!m) return [NaN, 0];
  const sec = Number(m[2]);
  const nsec = m[3] ? Number(m[3].padEnd(9, '0')) : 0;
  if (m[1] === '-') return nsec ? [-sec - 1, 1e9 - nsec] : [-sec, 0];
  return [sec, nsec];
}

/** Applies pax records (global ones first, then the entry's) over a header. */
function applyPax(e: TarEntry, records: PaxRecords, offset: number): void {
  for (const key in records) {
    const v = records[key] as Buffer;
    switch (key) {
      case 'path':
        e.name = v.toString('latin1', 0, v.length);
        break;
      case 'linkpath':
        e.linkname = v.toString('latin1', 0, v.length);
        break;
      case 'size': {
        const n = Number(v.toString('latin1', 0, v.length));
        if (!Number.isSafeInteger(n) || n < 0) throw new LayerFormatError(`bad pax size at offset ${offset}`);
        e.size = n;
        break;
      }
      case 'uid':
      case 'gid': {
        const n = Number(v.toString('latin1', 0, v.length));
        if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new LayerFormatError(`bad pax ${key} at offset ${offset}`);
        e[key] = n;
        break;
      }
      case 'mtime': {
        const [s, ns] = paxTime(v);
        if (Number.isFinite(s)) [e.mtimeSec, e.mtimeNsec] = [s, ns];
        break;
      }
      case 'atime': {
        const [s, ns] = paxTime(v);
        if (Number.isFinite(s)) [e.atimeSec, e.atimeNsec] = [s, ns];
        break;
      }
      default:
        if (key.startsWith('SCHILY.xattr.')) {
          (e.xattrs ??= new Map()).set(key.slice('SCHILY.xattr.'.length), Buffer.from(v));
        } else if (key.startsWith('LIBARCHIVE.xattr.')) {
          // libarchive: the name is URL-encoded, the value base64
          const name = Buffer.from(decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), 'utf8').toString('latin1');
          (e.xattrs ??= new Map()).set(name, Buffer.from(v.toString('latin1', 0, v.length), 'base64'));
        } else if (key.startsWith('GNU.sparse.')) {
          throw new LayerFormatError(`the tar entry at offset ${offset} is a GNU sparse file, which image layers do not use and this unpacker does not support`);
        }
    }
  }
}

/**
 * Reads the tar stream `source` to its end, calling `handler` for each entry
 * in order and awaiting it (that is the backpressure). What follows the
 * end-of-archive blocks is read and ignored, so whoever hashes the stream
 * upstream sees all of it.
 */
export async function readTar(source: AsyncIterable<Uint8Array>, handler: TarHandler): Promise<void> {
  let state = State.Header as State;
  const header = Buffer.alloc(BLOCK);
  let headerFill = 0;
  let remaining = 0; // of data, skip or meta
  let pad = 0; // padding after data
  let meta: Buffer | undefined;
  let metaFill = 0;
  let metaType = 0;
  let pos = 0; // stream offset of the next byte
  let headerOffset = 0;
  let zeroBlocks = 0;
  let globalPax: PaxRecords | undefined;
  let pax: PaxRecords | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;

  const onHeader = async (h: Buffer): Promise<void> => {
    if (isZeroBlock(h)) {
      zeroBlocks++;
      if (zeroBlocks >= 2) state = State.End;
      return;
    }
    if (zeroBlocks > 0) throw new LayerFormatError(`a lone zero block precedes the tar header at offset ${headerOffset}; the layer is corrupt`);
    if (!checksumOk(h, headerOffset)) {
      if (headerOffset === 0) refuseCompressed(h);
      throw new LayerFormatError(
        headerOffset === 0 ? 'the layer is not a tar archive (no valid tar header at its start; is it still compressed?)' : `bad tar header checksum at offset ${headerOffset}; the layer is corrupt or truncated`,
      );
    }
    const typeflag = h[156] as number;
    const size = num(h, 124, 12, 'size', headerOffset);
    if (size < 0) throw new LayerFormatError(`negative size in the tar header at offset ${headerOffset}`);
    // meta records: pax (x, g), GNU long name (L) and long link (K)
    if (typeflag === 0x78 || typeflag === 0x67 || typeflag === 0x4c || typeflag === 0x4b) {
      if (size > META_LIMIT) throw new LayerFormatError(`a tar metadata record of ${size} bytes at offset ${headerOffset} is larger than the ${META_LIMIT} allowed`);
      metaType = typeflag;
      meta = Buffer.allocUnsafe(size);
      metaFill = 0;
      if (size === 0) {
        finishMeta();
        return;
      }
      state = State.Meta;
      remaining = size;
      pad = padOf(size);
      return;
    }
    const gnu = h.toString('latin1', 257, 263) === 'ustar ';
    const ustar = h.toString('latin1', 257, 263) === 'ustar\0';
    let name = cstr(h, 0, 100);
    if (ustar) {
      const prefix = cstr(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const mtime = num(h, 136, 12, 'mtime', headerOffset);
    const e: TarEntry = {
      name,
      type: typeflag === 0 || typeflag === 0x37 ? EntryType.File : typeflag,
      linkname: cstr(h, 157, 100),
      mode: num(h, 100, 8, 'mode', headerOffset) & 0o7777,
      uid: num(h, 108, 8, 'uid', headerOffset),
      gid: num(h, 116, 8, 'gid', headerOffset),
      size,
      mtimeSec: mtime,
      mtimeNsec: 0,
      atimeSec: NaN,
      atimeNsec: 0,
      devmajor: ustar || gnu ? num(h, 329, 8, 'devmajor', headerOffset) : 0,
      devminor: ustar || gnu ? num(h, 337, 8, 'devminor', headerOffset) : 0,
      xattrs: undefined,
      offset: headerOffset,
    };
    if (typeflag === 0x53) throw new LayerFormatError(`the tar entry ${JSON.stringify(name)} at offset ${headerOffset} is a GNU sparse file, which image layers do not use and this unpacker does not support`);
    if (longName !== undefined) e.name = longName;
    if (longLink !== undefined) e.linkname = longLink;
    if (globalPax) applyPax(e, globalPax, headerOffset);
    if (pax) applyPax(e, pax, headerOffset);
    longName = longLink = pax = undefined;
    if (!Number.isFinite(e.atimeSec)) [e.atimeSec, e.atimeNsec] = [e.mtimeSec, e.mtimeNsec];
    // Only regular files carry data; any size on other types (some writers set it on hard links) is skipped.
    const hasData = e.type === EntryType.File;
    const r = handler.entry(e);
    if (r) await r;
    if (hasData && e.size > 0) {
      state = State.Data;
      remaining = e.size;
      pad = padOf(e.size);
      return;
    }
    if (hasData) {
      const r2 = handler.end();
      if (r2) await r2;
    }
    skip(hasData ? 0 : e.size + padOf(e.size));
  };

  function skip(n: number): void {
    remaining = n;
    state = n > 0 ? State.Skip : State.Header;
  }

  function finishMeta(): void {
    const buf = meta as Buffer;
    if (metaType === 0x78) pax = parsePax(buf, headerOffset);
    else if (metaType === 0x67) globalPax = { ...globalPax, ...parsePax(buf, headerOffset) };
    else if (metaType === 0x4c) longName = cstr(buf, 0, buf.length);
    else longLink = cstr(buf, 0, buf.length);
    meta = undefined;
  }

  for await (const input of source) {
    const chunk = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      switch (state) {
        case State.Header: {
          if (headerFill === 0 && len - off >= BLOCK) {
            headerOffset = pos + off;
            const h = chunk.subarray(off, off + BLOCK);
            off += BLOCK;
            await onHeader(h);
          } else {
            if (headerFill === 0) headerOffset = pos + off;
            const n = Math.min(BLOCK - headerFill, len - off);
            chunk.copy(header, headerFill, off, off + n);
            headerFill += n;
            off += n;
            if (headerFill === BLOCK) {
              headerFill = 0;
              await onHeader(header);
            }
          }
          break;
        }
        case State.Data: {
          const n = Math.min(remaining, len - off);
          const r = handler.data(chunk.subarray(off, off + n));
          if (r) await r;
          off += n;
          remaining -= n;
          if (remaining === 0) {
            const r2 = handler.end();
            if (r2) await r2;
            skip(pad);
          }
          break;
        }
        case State.Meta: {
          const n = Math.min(remaining, len - off);
          chunk.copy(meta as Buffer, metaFill, off, off + n);
          metaFill += n;
          off += n;
          remaining -= n;
          if (remaining === 0) {
            finishMeta();
            skip(pad);
          }
          break;
        }
        case State.Skip: {
          const n = Math.min(remaining, len - off);
          off += n;
          remaining -= n;
          if (remaining === 0) state = State.Header;
          break;
        }
        case State.End:
          off = len;
          break;
      }
    }
    pos += len;
  }
  if (pos === headerFill && headerFill > 0) {
    refuseCompressed(header.subarray(0, headerFill));
    throw new LayerFormatError(`the layer is not a tar archive (it is only ${pos} bytes)`);
  }
  if (state === State.Data || state === State.Meta || state === State.Skip || headerFill !== 0) {
    throw new LayerFormatError(`the layer ends in the middle of a tar entry (after ${pos} bytes); it is truncated`);
  }
  if (meta !== undefined || pax !== undefined || longName !== undefined || longLink !== undefined) {
    throw new LayerFormatError(`the layer ends after a tar metadata record with no entry for it; it is truncated`);
  }
}
