import type { Repository } from './repository.js';
import type { Snapshot } from './snapshot.js';
import type { BlobStore } from './blob-store.js';
import { handleString, type Handle } from './format.js';
import { blobHandle } from './packs.js';
import type { Digest } from '../util/digest.js';
import { mapLimit } from '../util/concurrency.js';
import { UsageError, errorMessage } from '../errors.js';

export interface CheckOptions {
  /** Read and verify this share (0–1) of all blobs; 0 checks structure only. */
  readData: number;
  /** Every digest a snapshot reaches (images, registry blobs, volume trees and chunks). */
  reachable: (snapshot: Snapshot, blobs: BlobStore, seen: Set<string>) => Promise<Digest[]>;
}

export interface CheckReport {
  snapshots: number;
  blobs: number;
  objectsChecked: number;
  blobsRead: number;
  bytesRead: number;
  errors: string[];
}

/**
 * Check a repository: every index file and snapshot matches its name, every
 * blob a snapshot reaches is in the index, every indexed object (loose blob or
 * pack) exists, and optionally that blob contents match their digests.
 */
export async function checkRepository(repo: Repository, options: CheckOptions): Promise<CheckReport> {
  const errors: string[] = [];
  const report: CheckReport = { snapshots: 0, blobs: 0, objectsChecked: 0, blobsRead: 0, bytesRead: 0, errors };
  const blobs = await repo.blobs();
  const index = blobs.entries();
  report.blobs = index.length;

  const seen = new Set<string>();
  for (const id of await repo.snapshotIds()) {
    try {
      const { snapshot } = await repo.loadSnapshot(id);
      report.snapshots++;
      for (const d of await options.reachable(snapshot, blobs, seen)) {
        if (!blobs.has(d)) errors.push(`snapshot ${id.slice(0, 8)} references blob ${d} which the index does not list`);
      }
    } catch (err) {
      errors.push(`snapshot ${id.slice(0, 8)}: ${errorMessage(err)}`);
    }
  }

  const objects = new Map<string, Handle>();
  for (const entry of index) {
    const h: Handle = entry.pack ? { type: 'pack', name: entry.pack.id } : blobHandle(repo.objects.codec, entry.digest);
    objects.set(handleString(h), h);
  }
  await mapLimit([...objects.values()], 16, async (h) => {
    if (!(await repo.objects.stat(h))) errors.push(`${repo.objects.key(h)} is listed in the index but missing from storage`);
    report.objectsChecked++;
  });

  if (options.readData > 0) {
    const chosen = index.filter((e) => options.readData >= 1 || sampled(e.digest, options.readData));
    await mapLimit(chosen, 2, async (entry) => {
      try {
        const stream = await blobs.open(entry.digest);
        for await (const chunk of stream) report.bytesRead += (chunk as Buffer).length;
        report.blobsRead++;
      } catch (err) {
        errors.push(`blob ${entry.digest}: ${errorMessage(err)}`);
      }
    });
  }
  return report;
}

/** A stable sample: the blobs whose digest falls in the first `share` of the hash space (a different subset with a different share). */
function sampled(digest: Digest, share: number): boolean {
  return parseInt(digest.slice(7, 15), 16) / 0xffffffff < share;
}

/** `10%` → 0.1 (`--read-data-subset`, a schedule's `readDataSubset`); undefined → 0 (structure only). */
export function readDataShare(subset: string | undefined): number {
  if (subset === undefined) return 0;
  const m = /^(\d+(?:\.\d+)?)%$/.exec(subset);
  if (!m || Number(m[1]) <= 0 || Number(m[1]) > 100) throw new UsageError(`read-data-subset takes a percentage such as 10%, not "${subset}"`);
  return Number(m[1]) / 100;
}
