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
  let next = 0;
  try {
    for (; next < result.blobs.length; next++) {
      const { staged, kind } = result.blobs[next] as ReadArchiveResult['blobs'][number];
      const fresh = !blobs.has(staged.digest);
      await blobs.commit(staged, kind);
      if (fresh) {
        stats.newBlobs++;
        stats.newBytes += staged.storedSize;
      }
    }
  } catch (err) {
    // The index is not written, so what was published is invisible garbage; drop what is still staged.
    await Promise.all(result.blobs.slice(next).map(({ staged }) => blobs.discard(staged)));
    throw err;
  }
  return stats;
}
