import type { Objects } from './objects.js';
import { parseDigest, type Digest } from '../util/digest.js';
import { CorruptDataError, errorMessage } from '../errors.js';
import { mapLimit } from '../util/concurrency.js';

/** What a blob is, for listings and checks; the format does not depend on it. */
export type BlobKind = 'layer' | 'config' | 'manifest' | 'blob' | 'chunk' | 'tree';

/** Where a packed blob is: `length` stored bytes (one zstd frame) at `offset` of pack file `id` (64 hex). */
export interface PackLocation {
  id: string;
  offset: number;
  length: number;
}

export interface BlobEntry {
  digest: Digest;
  /** Uncompressed size in bytes. */
  size: number;
  /** Size of the stored (compressed) object in bytes. */
  stored: number;
  kind: BlobKind;
  /** Set for a blob inside a pack file; absent for a loose blob (`blobs/sha256/…`). */
  pack?: PackLocation;
}

/** A pack's blobs as an index file lists them. */
export interface PackIndexBlob {
  digest: Digest;
  offset: number;
  length: number;
  size: number;
  kind: BlobKind;
}

interface IndexFile {
  version: 1;
  blobs: BlobEntry[];
  packs?: { id: string; blobs: PackIndexBlob[] }[];
}

/**
 * The union of all immutable index files: which blobs the repository holds.
 * A blob counts as present only once an index file names it, so a blob object
 * written by a crashed run is invisible garbage, never a dangling reference.
 */
export class BlobIndex {
  private readonly entries = new Map<Digest, BlobEntry>();
  private readonly pending: BlobEntry[] = [];

  static async load(objects: Objects): Promise<BlobIndex> {
    const index = new BlobIndex();
    const names: string[] = [];
    for await (const name of objects.list('index')) names.push(name);
    await mapLimit(names, 16, async (name) => {
      const key = `index/${name}`;
      const buf = await objects.loadContent({ type: 'index', name });
      let file: IndexFile;
      try {
        file = JSON.parse(buf.toString('utf8')) as IndexFile;
      } catch (err) {
        throw new CorruptDataError(`index file ${key} is not valid JSON: ${errorMessage(err)}`);
      }
      for (const entry of file.blobs ?? []) index.entries.set(parseDigest(entry.digest, key), entry);
      for (const pack of file.packs ?? []) {
        if (!/^[0-9a-f]{64}$/.test(pack.id)) throw new CorruptDataError(`index file ${key} names an invalid pack id "${pack.id}"`);
        for (const b of pack.blobs) {
          const digest = parseDigest(b.digest, key);
          if (index.entries.has(digest)) continue;
          index.entries.set(digest, { digest, size: b.size, stored: b.length, kind: b.kind, pack: { id: pack.id, offset: b.offset, length: b.length } });
        }
      }
    });
    return index;
  }

  has(digest: string): boolean {
    return this.entries.has(digest as Digest);
  }

  /** The entry of a blob: its sizes, and `pack` when it lives in a pack file (else it is loose). */
  get(digest: string): BlobEntry | undefined {
    return this.entries.get(digest as Digest);
  }

  all(): IterableIterator<BlobEntry> {
    return this.entries.values();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Record a blob just written; it becomes durable with the next flush. */
  add(entry: BlobEntry): void {
    if (this.entries.has(entry.digest)) return;
    this.entries.set(entry.digest, entry);
    this.pending.push(entry);
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Write the pending entries as one new index file. */
  async flush(objects: Objects): Promise<string | undefined> {
    if (this.pending.length === 0) return undefined;
    // Take the entries now: others may be added while this file is written.
    const taken = this.pending.splice(0);
    const file: IndexFile = { version: 1, blobs: taken.filter((e) => !e.pack) };
    const packs = new Map<string, PackIndexBlob[]>();
    for (const e of taken) {
      if (!e.pack) continue;
      let list = packs.get(e.pack.id);
      if (!list) packs.set(e.pack.id, (list = []));
      list.push({ digest: e.digest, offset: e.pack.offset, length: e.pack.length, size: e.size, kind: e.kind });
    }
    if (packs.size > 0) file.packs = [...packs].map(([id, blobs]) => ({ id, blobs }));
    const buf = Buffer.from(JSON.stringify(file));
    try {
      return await objects.saveContent('index', buf);
    } catch (err) {
      this.pending.unshift(...taken);
      throw err;
    }
  }
}
