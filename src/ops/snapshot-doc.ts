import { hostname, userInfo } from 'node:os';
import type { Snapshot, SnapshotSource } from '../repo/snapshot.js';
import type { ImageRecord } from '../image/model.js';
import { VERSION } from '../version.js';
import { UsageError } from '../errors.js';

/**
 * `backup --time`: ISO 8601 with a zone (`2026-01-31T02:30:00Z`, `…+01:00`), or restic's
 * `2026-01-31 02:30:00` (also with T, seconds optional), read as local time (TZ).
 */
export function parseSnapshotTime(text: string): Date {
  const local = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  const d = local
    ? new Date(Number(local[1]), Number(local[2]) - 1, Number(local[3]), Number(local[4]), Number(local[5]), Number(local[6] ?? 0))
    : /^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(text.trim())
      ? new Date(text.trim())
      : new Date(NaN);
  if (Number.isNaN(d.getTime())) {
    throw new UsageError(`--time ${text}: write an ISO 8601 time with a zone (2026-01-31T02:30:00Z) or a local "2026-01-31 02:30:00"`);
  }
  return d;
}

/** The host snapshots are recorded under: --host / TSBAK_HOST, else the machine's name. */
export function snapshotHost(): string {
  return process.env.TSBAK_HOST || hostname();
}

/** A new snapshot document stamped with time (now, unless given: `backup --time`), host and user. */
export function newSnapshot(source: SnapshotSource, images: ImageRecord[], tags: string[], time: Date = new Date()): Snapshot {
  const snapshot: Snapshot = {
    version: 1,
    time: time.toISOString(),
    hostname: snapshotHost(),
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
