/**
 * Pack files: many small blobs (volume chunks and trees) in one repository
 * object, so a backup writes tens of objects rather than one per chunk.
 *
 * A pack is the concatenation of independently zstd-compressed blobs followed
 * by a trailer: a JSON header `{"version":1,"blobs":[{digest,offset,length,size,kind}]}`
 * and its byte length as a 4-byte little-endian integer. The trailer lets an
 * index be rebuilt from the packs alone. A pack is named by the sha256 of all
 * its bytes (`data/<hh>/<hex>`), published atomically, and only then named by
 * an index file (the caller flushes the BlobIndex after finish()).
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, openSync, write } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobIndex, BlobKind, PackIndexBlob, PackLocation } from './blob-index.js';
import type { Codec } from './codec.js';
import { handleString, type Handle } from './format.js';
import type { Objects } from './objects.js';
import { parseDigest, sha256, type Digest } from '../util/digest.js';
import { CorruptDataError, TsbakError, errorMessage } from '../errors.js';

/** A pack is closed once it reaches this many bytes (the last blob may take it past). */
export const PACK_TARGET_SIZE = 16 * 1024 * 1024;
/** Blobs smaller than this are gathered and written together; larger ones directly. */
const SMALL_BLOB = 64 * 1024;
const GATHER_BUFFER = 256 * 1024;
/** Largest trailer header a reader accepts (about 100,000 blobs). */
const MAX_HEADER = 16 * 1024 * 1024;
/** Packs being published at once while the next one fills. */
const MAX_UPLOADS = 2;

export interface PackHeader {
  version: 1;
  blobs: PackIndexBlob[];
}

/** The trailer of a pack: JSON header (encoded by the codec under the pack's handle when given), then its length (uint32 LE). */
export function encodeTrailer(blobs: PackIndexBlob[], codec?: Codec, pack?: Handle): Buffer {
  const header: PackHeader = { version: 1, blobs };
  const plain = Buffer.from(JSON.stringify(header));
  const json = codec && pack ? codec.encode(pack, plain) : plain;
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length, 0);
  return Buffer.concat([json, len]);
}

/** Parse and check a pack header (the JSON part of the trailer); `dataEnd` is where the trailer starts. */
export function parseHeader(json: Buffer, dataEnd: number, what: string): PackIndexBlob[] {
  let header: PackHeader;
  try {
    header = JSON.parse(json.toString('utf8')) as PackHeader;
  } catch (err) {
    throw new CorruptDataError(`${what}: pack header is not valid JSON: ${errorMessage(err)}`);
  }
  if (header.version !== 1 || !Array.isArray(header.blobs)) throw new CorruptDataError(`${what}: pack header has no version 1 blob list`);
  for (const b of header.blobs) {
    parseDigest(b.digest, what);
    const ok = Number.isSafeInteger(b.offset) && Number.isSafeInteger(b.length) && Number.isSafeInteger(b.size);
    if (!ok || b.offset < 0 || b.length <= 0 || b.size < 0 || b.offset + b.length > dataEnd) {
      throw new CorruptDataError(`${what}: pack header lists blob ${b.digest} outside the pack's data`);
    }
  }
  return header.blobs;
}

/** Split a whole pack held in memory (tests, check) into its header entries. */
export function parsePack(pack: Buffer, what = 'pack'): PackIndexBlob[] {
  if (pack.length < 4) throw new CorruptDataError(`${what} is too short to hold a trailer`);
  const len = pack.readUInt32LE(pack.length - 4);
  if (len > pack.length - 4) throw new CorruptDataError(`${what}: trailer length ${len} exceeds the pack`);
  const dataEnd = pack.length - 4 - len;
  return parseHeader(pack.subarray(dataEnd, pack.length - 4), dataEnd, what);
}

/** The blob list of a stored pack, from its trailer (two ranged reads): for index rebuilds and checks. */
export async function readPackHeader(objects: Objects, id: string): Promise<PackIndexBlob[]> {
  const h: Handle = { type: 'pack', name: id };
  const what = handleString(h);
  const st = await objects.stat(h);
  if (!st) throw new CorruptDataError(`${what} is missing from ${objects.location}`);
  if (st.size < 4) throw new CorruptDataError(`${what} is too short to hold a trailer`);
  const len = (await objects.readRange(h, st.size - 4, 4)).readUInt32LE(0);
  if (len > st.size - 4 || len > MAX_HEADER) throw new CorruptDataError(`${what}: trailer length ${len} is impossible (corrupted?)`);
  const dataEnd = st.size - 4 - len;
  return parseHeader(objects.codec.decode(h, await objects.readRange(h, dataEnd, len)), dataEnd, what);
}

/** The handle of a blob (its name: the MAC of its digest, or the digest's hex when nothing is sealed). */
export function blobHandle(codec: Codec, digest: Digest): Handle {
  return { type: 'blob', name: codec.nameOf(digest) };
}

/** Read one packed blob: ranged read, open, decompress, verify its sha256. */
export async function readPackedBlob(objects: Objects, digest: Digest, where: PackLocation): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await objects.loadPacked(where.id, blobHandle(objects.codec, digest), where.offset, where.length);
  } catch (err) {
    if (err instanceof TsbakError && !(err instanceof CorruptDataError)) throw err;
    throw new CorruptDataError(`blob ${digest} in pack ${where.id}: ${errorMessage(err)} (repository corrupted? run \`tsbak check\`)`);
  }
  if (sha256(data) !== digest) {
    throw new CorruptDataError(`blob ${digest} in pack ${where.id} does not match its digest (repository corrupted? run \`tsbak check\`)`);
  }
  return data;
}

/** An open pack being filled in staging. */
interface OpenPack {
  path: string;
  fd: number;
  hash: Hash;
  /** Bytes appended so far (written or gathered). */
  size: number;
  /** Small blobs not yet written. */
  gather: Buffer;
  gathered: number;
  blobs: PackIndexBlob[];
}

export interface PackWriterStats {
  packs: number;
  blobs: number;
  /** Stored (compressed) bytes of the blobs written. */
  storedBytes: number;
}

/**
 * Appends compressed blobs to pack files in staging; publishes each full pack
 * through the backend, then records its blobs in the index (pending until the
 * index is flushed). Calls to add() are serialized internally; each resolves
 * once its bytes are written to the staging file (on libuv's threads, off the
 * main thread), so a blob's buffer is free for reuse as soon as add() resolves.
 */
export class PackWriter {
  private current: OpenPack | undefined;
  private readonly uploads = new Set<Promise<void>>();
  /** Digests added to this writer whose pack is not yet published. */
  private readonly unpublished = new Set<Digest>();
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  readonly stats: PackWriterStats = { packs: 0, blobs: 0, storedBytes: 0 };

  constructor(
    private readonly objects: Objects,
    private readonly index: BlobIndex,
    private readonly options: { targetSize?: number; onPublished?: (id: string, blobs: number) => void } = {},
  ) {}

  /** True when the repository or this writer already has the blob. */
  has(digest: Digest): boolean {
    return this.unpublished.has(digest) || this.index.has(digest);
  }

  /**
   * Append a blob: `stored` is its zstd frame, `size` its uncompressed length.
   * Resolves once the bytes are copied or written (not yet durable): the caller
   * may then reuse `stored`. A blob the writer already has is skipped.
   */
  add(digest: Digest, kind: BlobKind, size: number, frame: Uint8Array): Promise<void> {
    return this.enqueue(digest, () => this.append(digest, kind, size, this.objects.codec.sealCompressed(blobHandle(this.objects.codec, digest), frame as Buffer)));
  }

  /** Append a small document (a tree): compressed and sealed here by the codec. */
  addDocument(digest: Digest, kind: BlobKind, doc: Buffer): Promise<void> {
    return this.enqueue(digest, () => this.append(digest, kind, doc.length, this.objects.codec.encode(blobHandle(this.objects.codec, digest), doc)));
  }

  private enqueue(digest: Digest, append: () => Promise<void>): Promise<void> {
    if (this.has(digest)) return this.chain;
    this.unpublished.add(digest);
    const step = this.chain.then(append);
    this.chain = step.catch((err: unknown) => {
      this.failure ??= err;
    });
    return step;
  }

  private async append(digest: Digest, kind: BlobKind, size: number, stored: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    const pack = this.current ?? (this.current = await this.openPack());
    pack.blobs.push({ digest, offset: pack.size, length: stored.length, size, kind });
    pack.hash.update(stored);
    if (stored.length < SMALL_BLOB) {
      if (pack.gathered + stored.length > pack.gather.length) await flushGathered(pack);
      pack.gather.set(stored, pack.gathered);
      pack.gathered += stored.length;
    } else {
      await flushGathered(pack);
      await writeAll(pack.fd, stored);
    }
    pack.size += stored.length;
    this.stats.blobs++;
    this.stats.storedBytes += stored.length;
    if (pack.size >= (this.options.targetSize ?? PACK_TARGET_SIZE)) {
      this.current = undefined;
      await this.close(pack);
    }
  }

  private async openPack(): Promise<OpenPack> {
    const path = join(await this.objects.stagingDir(), `pack-${randomBytes(8).toString('hex')}`);
    const fd = openSync(path, 'wx', 0o600);
    return { path, fd, hash: createHash('sha256'), size: 0, gather: Buffer.allocUnsafe(GATHER_BUFFER), gathered: 0, blobs: [] };
  }

  /** Write the trailer, close, and start publishing (bounded number in flight). */
  private async close(pack: OpenPack): Promise<void> {
    const codec = this.objects.codec;
    // Format 2: named from its content (the MAC of its sorted blob digests), so writers of the
    // same blobs write the same pack; the trailer is sealed under that name. Format 1: the sha256 of its bytes.
    const id = codec.version >= 2 ? packName(codec, pack.blobs) : undefined;
    const trailer = id ? encodeTrailer(pack.blobs, codec, { type: 'pack', name: id }) : encodeTrailer(pack.blobs);
    pack.hash.update(trailer);
    try {
      await flushGathered(pack);
      await writeAll(pack.fd, trailer);
    } finally {
      closeSync(pack.fd);
    }
    await this.queue(pack, id ?? pack.hash.digest('hex'));
  }

  private async queue(pack: OpenPack, id: string): Promise<void> {
    while (this.uploads.size >= MAX_UPLOADS) await Promise.race(this.uploads);
    const upload = this.publish(pack, id).then(
      () => {
        this.uploads.delete(upload);
      },
      (err: unknown) => {
        this.uploads.delete(upload);
        this.failure ??= err;
      },
    );
    this.uploads.add(upload);
  }

  private async publish(pack: OpenPack, id: string): Promise<void> {
    try {
      await this.objects.publishFile({ type: 'pack', name: id }, pack.path);
    } catch (err) {
      await rm(pack.path, { force: true });
      throw err;
    }
    for (const b of pack.blobs) {
      this.index.add({ digest: b.digest, size: b.size, stored: b.length, kind: b.kind, pack: { id, offset: b.offset, length: b.length } });
      this.unpublished.delete(b.digest);
    }
    this.stats.packs++;
    this.options.onPublished?.(id, pack.blobs.length);
  }

  /** Close the current pack and wait until every pack is published (then flush the index). */
  async finish(): Promise<void> {
    await this.chain;
    const pack = this.current;
    this.current = undefined;
    if (pack && !this.failure) await this.close(pack);
    else if (pack) await discard(pack);
    await Promise.all(this.uploads);
    if (this.failure) throw this.failure;
  }

  /** Drop the open pack (after a failure elsewhere); published packs stay (unreferenced until an index names them). */
  async abort(): Promise<void> {
    await this.chain;
    const pack = this.current;
    this.current = undefined;
    if (pack) await discard(pack);
    await Promise.allSettled(this.uploads);
  }
}

/** A format-2 pack's name: the MAC of its blobs' digests, sorted, one per line. */
export function packName(codec: Codec, blobs: { digest: Digest }[]): string {
  return codec.nameOf(sha256(blobs.map((b) => b.digest).sort().join('\n')));
}

function writeAll(fd: number, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number) => {
      if (off >= data.length) return resolve();
      write(fd, data, off, data.length - off, null, (err, n) => (err ? reject(err) : step(off + n)));
    };
    step(0);
  });
}

async function flushGathered(pack: OpenPack): Promise<void> {
  if (pack.gathered === 0) return;
  const n = pack.gathered;
  pack.gathered = 0;
  await writeAll(pack.fd, pack.gather.subarray(0, n));
}

async function discard(pack: OpenPack): Promise<void> {
  try {
    closeSync(pack.fd);
  } catch {
    // already closed
  }
  await rm(pack.path, { force: true });
}
