import { hostname, userInfo } from 'node:os';
import type { Snapshot, SnapshotSource } from '../repo/snapshot.js';
import type { ImageRecord } from '../image/model.js';
import { VERSION } from '../version.js';

/** A new snapshot document stamped with time, host and user. */
export function newSnapshot(source: SnapshotSource, images: ImageRecord[], tags: string[]): Snapshot {
  const snapshot: Snapshot = {
    version: 1,
    time: new Date().toISOString(),
    hostname: hostname(),
    tags: [...new Set(tags)],
    tool: `tsbak ${VERSION}`,
    source,
    images,
    volumes: [],
    containers: [],
  };
  try {
    snapshot.username = userInfo().username;
  } catch {
    // No passwd entry (containers): leave it out.
  }
  return snapshot;
}
