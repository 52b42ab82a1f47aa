import type { Readable } from 'node:stream';
import type { Repository } from '../repo/repository.js';
import { readImageArchive } from '../image/archive/reader.js';
import { commitArchiveBlobs } from './commit.js';
import { newSnapshot } from './snapshot-doc.js';

export interface ImportResult {
  snapshotId: string;
  images: { names: string[]; id: string; layers: number }[];
  newBlobs: number;
  newBytes: number;
  durationMs: number;
}

/** Take a docker save or OCI archive (plain, gzip or zstd) into the repository as a new snapshot. */
export async function importArchive(repo: Repository, source: Readable, path: string, tags: string[]): Promise<ImportResult> {
  const started = Date.now();
  const blobs = await repo.blobs();
  const result = await readImageArchive(source, blobs, path === '-' ? 'archive on standard input' : `archive ${path}`);
  const stats = await commitArchiveBlobs(blobs, result);
  await blobs.flushIndex();
  const snapshotId = await repo.saveSnapshot(newSnapshot({ kind: 'archive', path }, result.images, tags));
  return {
    snapshotId,
    images: result.images.map((r) => ({ names: r.names, id: r.config, layers: r.layers.length })),
    ...stats,
    durationMs: Date.now() - started,
  };
}
