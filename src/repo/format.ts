import { randomBytes } from 'node:crypto';
import { digestHex, type Digest } from '../util/digest.js';

/** The repository format version described in docs/FORMAT.md. */
export const FORMAT_VERSION = 1;
export const FORMAT_NAME = 'tsbak-repository';

export interface RepoConfig {
  format: typeof FORMAT_NAME;
  version: number;
  /** Random 32-byte hex id, fixed at init. */
  id: string;
  created: string;
  compression: 'zstd';
}

export function newRepoConfig(): RepoConfig {
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    id: randomBytes(32).toString('hex'),
    created: new Date().toISOString(),
    compression: 'zstd',
  };
}

/** Object keys: the one place that knows the repository's layout. */
export const keys = {
  config: 'config',
  blob(digest: Digest): string {
    const hex = digestHex(digest);
    return `blobs/sha256/${hex.slice(0, 2)}/${hex}`;
  },
  blobsPrefix: 'blobs',
  /** A pack file of volume chunks and trees, named by the sha256 of its bytes. */
  pack(hex: string): string {
    return `data/${hex.slice(0, 2)}/${hex}`;
  },
  packsPrefix: 'data',
  index(hex: string): string {
    return `index/${hex}.json`;
  },
  indexPrefix: 'index',
  snapshot(hex: string): string {
    return `snapshots/${hex}.json`;
  },
  snapshotsPrefix: 'snapshots',
  lock(name: string): string {
    return `locks/${name}.json`;
  },
  locksPrefix: 'locks',
};

/** The snapshot id of a key `snapshots/<hex>.json`, or undefined for other keys. */
export function snapshotIdOfKey(key: string): string | undefined {
  return /^snapshots\/([0-9a-f]{64})\.json$/.exec(key)?.[1];
}

export function indexIdOfKey(key: string): string | undefined {
  return /^index\/([0-9a-f]{64})\.json$/.exec(key)?.[1];
}

/** The pack id of a key `data/<hh>/<hex>`, or undefined for other keys. */
export function packIdOfKey(key: string): string | undefined {
  const m = /^data\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(key);
  return m && m[2]?.startsWith(m[1] as string) ? m[2] : undefined;
}
