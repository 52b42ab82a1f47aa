import type { ImageRecord } from '../image/model.js';
import type { ContainerRecord } from '../container/model.js';
import { upgradeContainerRecord } from '../container/legacy.js';
import type { VolumeRecord } from '../volume/record.js';

/** Where a snapshot's content came from. */
export type SnapshotSource =
  | { kind: 'engine'; host: string; engineVersion?: string }
  | { kind: 'runtime'; root: string; version?: string }
  | { kind: 'archive'; path: string }
  | { kind: 'registry'; host: string };

/**
 * A snapshot document. Immutable: written once, last, after everything it
 * references; its id is the sha256 of its bytes.
 */
export interface Snapshot {
  version: 1;
  time: string;
  hostname: string;
  username?: string;
  tags: string[];
  tool: string;
  source: SnapshotSource;
  images: ImageRecord[];
  /** Volumes: metadata and the root tree of their content. */
  volumes: VolumeRecord[];
  /** Container definitions, enough to re-create them. */
  containers: ContainerRecord[];
}

export interface StoredSnapshot {
  id: string;
  snapshot: Snapshot;
}

/** A snapshot document from its JSON; container records of tsbak 0.1 (Docker create bodies) are read into the current model. */
export function parseSnapshot(text: string): Snapshot {
  const snapshot = JSON.parse(text) as Snapshot;
  snapshot.containers = (snapshot.containers ?? []).map(upgradeContainerRecord);
  return snapshot;
}
