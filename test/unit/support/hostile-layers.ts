// Layer tars built in memory with tar-stream for the unpacker's tests: well-formed
// ones, and a corpus of hostile ones that try to write outside the root.
import { Readable } from 'node:stream';
import { pack as tarPack, type Pack } from 'tar-stream';

export type EntryKind = 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device' | 'block-device';

export interface LayerEntry {
  name: string;
  type?: EntryKind;
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  /** SCHILY.xattr.* records, written as a raw pax header so binary values stay binary. */
  xattrs?: Record<string, Buffer | string>;
}

const PAX_MARK = 'tsbak-test-raw-pax-header';

/** Turns the PAX_MARK file headers into pax extended headers (typeflag 'x'), fixing their checksums. */
function markPaxHeaders(tar: Buffer): Buffer {
  let at = 0;
  while (at + 512 <= tar.length) {
    const h = tar.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(h.toString('latin1', 124, 136).replace(/\0.*$/, '').trim() || '0', 8);
    if (h.toString('latin1', 0, PAX_MARK.length + 1) === `${PAX_MARK}\0`) {
      h[156] = 0x78; // 'x'
      h.fill(0x20, 148, 156);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return tar;
}

/** One pax record `LEN key=value\n`, with a binary value. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function addEntry(pack: Pack, e: LayerEntry): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    const type = e.type ?? 'file';
    const mtime = e.mtime ?? new Date(1_600_000_000_000);
    if (e.xattrs) {
      // tar-stream writes pax values as text; this one goes as a file entry that buildLayer turns into a pax header
      const records = Object.entries(e.xattrs).map(([k, v]) => paxRecord(`SCHILY.xattr.${k}`, Buffer.isBuffer(v) ? v : Buffer.from(v)));
      pack.entry({ name: PAX_MARK, type: 'file', mtime }, Buffer.concat(records), (err) => {
        if (err) reject(err);
      });
    }
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
    };
    if (type === 'file') pack.entry(header, Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content ?? ''), done);
    else pack.entry(header, done).end(Buffer.alloc(0));
  });
}

/** A layer tar (small: test data) from entries in order. */
export async function buildLayer(entries: LayerEntry[]): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const e of entries) await addEntry(pack, e);
  pack.finalize();
  await ended;
  return markPaxHeaders(Buffer.concat(chunks));
}

/** The tar as a stream delivered in small pieces, so entries and headers straddle chunk boundaries. */
export function layerStream(tar: Buffer, piece = 777): Readable {
  function* pieces() {
    for (let at = 0; at < tar.length; at += piece) yield tar.subarray(at, at + piece);
  }
  return Readable.from(pieces(), { objectMode: false });
}

export interface HostileCase {
  name: string;
  entries: LayerEntry[];
  /**
   * `refused`: the layer fails with LayerEscapeError naming `entry`;
   * `inside`: it is applied, and what it wrote is inside the root at `inside`.
   */
  expect: { refused: string } | { inside: string };
  /** Entries of a lower layer applied first (not hostile). */
  lower?: LayerEntry[];
}

/**
 * The hostile corpus. `up` is the relative path from the root to the canary
 * directory outside it (`../../canary`), `abs` its absolute path.
 */
export function hostileCorpus(up: string, abs: string): HostileCase[] {
  const absRel = abs.replace(/^\/+/, '');
  return [
    { name: '`../` climbing out of the root', entries: [{ name: `${up}/pwned`, content: 'x' }], expect: { refused: `${up}/pwned` } },
    { name: '`../` hidden inside a path', entries: [{ name: 'a/b/../../../c/../' + `${up}/pwned`, content: 'x' }], expect: { refused: `a/b/../../../c/../${up}/pwned` } },
    { name: 'an absolute name', entries: [{ name: `${abs}/pwned`, content: 'x' }], expect: { refused: `${abs}/pwned` } },
    {
      name: 'a symlink that climbs out, then a write through it',
      entries: [
        { name: 'evil', type: 'symlink', linkname: up },
        { name: 'evil/pwned', content: 'x' },
      ],
      expect: { refused: 'evil/pwned' },
    },
    {
      name: 'a symlink that climbs out, then a directory through it',
      entries: [
        { name: 'evil', type: 'symlink', linkname: `../../../../../../../../..${abs}` },
        { name: 'evil/sub/', type: 'directory' },
      ],
      expect: { refused: 'evil/sub/' },
    },
    {
      name: 'a chain of symlinks that climbs out',
      entries: [
        { name: 'one', type: 'symlink', linkname: 'two/..' },
        { name: 'two', type: 'symlink', linkname: '.' },
        { name: 'three', type: 'symlink', linkname: `one/${up}` },
        { name: 'three/pwned', content: 'x' },
      ],
      expect: { refused: 'three/pwned' },
    },
    {
      name: 'an absolute symlink, then a write through it (lands inside the root)',
      entries: [
        { name: 'evil', type: 'symlink', linkname: abs },
        { name: 'evil/pwned', content: 'x' },
      ],
      expect: { inside: `${absRel}/pwned` },
    },
    {
      name: 'an absolute symlink with `..` above `/`',
      entries: [
        { name: 'evil', type: 'symlink', linkname: `/../../..${abs}` },
        { name: 'evil/pwned', content: 'x' },
      ],
      expect: { refused: 'evil/pwned' },
    },
    {
      name: 'a symlink to the canary file, then a file entry of the same name (replaces the symlink)',
      entries: [
        { name: 'victim', type: 'symlink', linkname: `${up}/canary.txt` },
        { name: 'victim', content: 'overwritten?' },
      ],
      expect: { inside: 'victim' },
    },
    { name: 'a hard link to `../../canary`', entries: [{ name: 'hl', type: 'link', linkname: `${up}/canary.txt` }], expect: { refused: 'hl' } },
    { name: 'a hard link to an absolute path', entries: [{ name: 'hl', type: 'link', linkname: `${abs}/canary.txt` }], expect: { refused: 'hl' } },
    {
      name: 'a hard link through a symlink to outside',
      entries: [
        { name: 'out', type: 'symlink', linkname: up },
        { name: 'hl', type: 'link', linkname: 'out/canary.txt' },
      ],
      expect: { refused: 'hl' },
    },
    {
      name: 'a hard link whose own name goes through a symlink to outside',
      lower: [{ name: 'real', content: 'inside' }],
      entries: [
        { name: 'out', type: 'symlink', linkname: up },
        { name: 'out/hl', type: 'link', linkname: 'real' },
      ],
      expect: { refused: 'out/hl' },
    },
    { name: 'a whiteout `.wh...`', entries: [{ name: '.wh...', content: '' }], expect: { refused: '.wh...' } },
    { name: 'a whiteout of `..` in a directory', entries: [{ name: 'd/', type: 'directory' }, { name: 'd/.wh...', content: '' }], expect: { refused: 'd/.wh...' } },
    { name: 'a whiteout climbing out', entries: [{ name: `${up}/.wh.canary.txt`, content: '' }], expect: { refused: `${up}/.wh.canary.txt` } },
    {
      name: 'a whiteout through a symlink that climbs out',
      entries: [
        { name: 'out', type: 'symlink', linkname: up },
        { name: 'out/.wh.canary.txt', content: '' },
      ],
      expect: { refused: 'out/.wh.canary.txt' },
    },
    {
      name: 'an opaque whiteout through a symlink that climbs out',
      entries: [
        { name: 'out', type: 'symlink', linkname: up },
        { name: 'out/.wh..wh..opq', content: '' },
      ],
      expect: { refused: 'out/.wh..wh..opq' },
    },
    {
      name: 'a directory swapped for a symlink mid-layer, then a write through it',
      entries: [
        { name: 'd/', type: 'directory' },
        { name: 'd/a', content: 'a' },
        { name: 'd', type: 'symlink', linkname: up },
        { name: 'd/pwned', content: 'x' },
      ],
      expect: { refused: 'd/pwned' },
    },
    {
      name: 'a symlink swapped for a directory mid-layer (the write stays inside)',
      entries: [
        { name: 'd', type: 'symlink', linkname: up },
        { name: 'd/', type: 'directory' },
        { name: 'd/pwned', content: 'x' },
      ],
      expect: { inside: 'd/pwned' },
    },
    {
      name: 'a long (pax) name climbing out',
      entries: [{ name: `${'long/'.repeat(30)}${'../'.repeat(30)}${up}/pwned`, content: 'x' }],
      expect: { refused: `${'long/'.repeat(30)}${'../'.repeat(30)}${up}/pwned` },
    },
  ];
}
