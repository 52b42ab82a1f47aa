import type { BlobStore } from '../repo/blob-store.js';
import type { ReadArchiveResult } from '../image/archive/reader.js';

export interface CommitStats {
  newBlobs: number;
  newBytes: number;
}

/** Publish the blobs an archive read staged; those already present are dropped. */
export async function commitArchiveBlobs(blobs: BlobStore, result: ReadArchiveResult): Promise<CommitStats> {
  const stats: CommitStats = { newBlobs: 0, newBytes: 0 };
  // Configs before layers is not required for safety (the index is written after all), only tidy.
  for (const { staged, kind } of result.blobs) {
    const fresh = !blobs.has(staged.digest);
    await blobs.commit(staged, kind);
    if (fresh) {
      stats.newBlobs++;
      stats.newBytes += staged.storedSize;
    }
  }
  return stats;
}
