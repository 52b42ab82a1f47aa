import { randomBytes } from 'node:crypto';
import { digestHex, type Digest } from '../util/digest.js';

/** The newest repository format version this tsbak writes and reads, described in docs/FORMAT.md. */
export const FORMAT_VERSION = 2;
export const FORMAT_NAME = 'tsbak-repository';

export interface RepoConfig {
  format: typeof FORMAT_NAME;
  version: number;
  /** Random 32-byte hex id, fixed at init. */
  id: string;
  created: string;
  compression: 'zstd';
  /** Format 2: whether objects are sealed (false: created with --insecure-no-password). */
  encrypted?: boolean;
}

export function newRepoConfig(version = FORMAT_VERSION, encrypted = true): RepoConfig {
  return {
    format: FORMAT_NAME,
    version,
    id: randomBytes(32).toString('hex'),
    created: new Date().toISOString(),
    compression: 'zstd',
    ...(version >= 2 ? { encrypted } : {}),
  };
}

/** The kinds of repository objects (restic's file types). */
export type FileType = 'config' | 'key' | 'blob' | 'pack' | 'index' | 'snapshot' | 'lock' | 'mark';

/** A repository object: its type and its name within that type (a hex id, or empty for the config). */
export interface Handle {
  readonly type: FileType;
  readonly name: string;
}

export function handle(type: FileType, name: string): Handle {
  return { type, name };
}

export const CONFIG: Handle = { type: 'config', name: '' };

/** `type/name` (`config` alone): how messages name an object, and its associated data when sealed. */
export function handleString(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${h.name}`;
}

/**
 * Where objects live in a backend: the one place that maps a handle to a backend key
 * and a backend key back to a handle. Nothing outside src/repo builds keys.
 */
export interface Layout {
  key(h: Handle): string;
  /** The backend prefix under which every object of a type lives. */
  prefix(type: FileType): string;
  /** The handle name of a backend key listed under prefix(type), or undefined for a foreign key. */
  nameOf(type: FileType, key: string): string | undefined;
}

const HEX64 = /^[0-9a-f]{64}$/;
const NAME = /^[0-9A-Za-z_.-]+$/;

function check(h: Handle): void {
  if (h.type === 'config') return;
  if (!NAME.test(h.name) || h.name.startsWith('.')) throw new Error(`invalid ${h.type} object name "${h.name}"`);
}

/** Format 1: `blobs/sha256/<hh>/<hex>`, `data/<hh>/<hex>`, `index/<hex>.json`, `snapshots/<hex>.json`, `locks/<name>.json`. */
export const LAYOUT_V1: Layout = {
  key(h) {
    check(h);
    switch (h.type) {
      case 'config':
        return 'config';
      case 'blob':
        return `blobs/sha256/${h.name.slice(0, 2)}/${h.name}`;
      case 'pack':
        return `data/${h.name.slice(0, 2)}/${h.name}`;
      case 'index':
        return `index/${h.name}.json`;
      case 'snapshot':
        return `snapshots/${h.name}.json`;
      case 'lock':
        return `locks/${h.name}.json`;
      case 'key':
        return `keys/${h.name}`;
      case 'mark':
        return `marks/${h.name}`;
    }
  },
  prefix(type) {
    return V1_PREFIX[type];
  },
  nameOf(type, key) {
    switch (type) {
      case 'config':
        return key === 'config' ? '' : undefined;
      case 'blob': {
        const m = /^blobs\/sha256\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(key);
        return m && m[2]?.startsWith(m[1] as string) ? m[2] : undefined;
      }
      case 'pack': {
        const m = /^data\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(key);
        return m && m[2]?.startsWith(m[1] as string) ? m[2] : undefined;
      }
      case 'index':
        return /^index\/([0-9a-f]{64})\.json$/.exec(key)?.[1];
      case 'snapshot':
        return /^snapshots\/([0-9a-f]{64})\.json$/.exec(key)?.[1];
      case 'lock':
        return /^locks\/([0-9A-Za-z_.-]+)\.json$/.exec(key)?.[1];
      case 'key':
      case 'mark':
        return flatName(V1_PREFIX[type], key);
    }
  },
};

const V1_PREFIX: Record<FileType, string> = {
  config: 'config',
  key: 'keys',
  blob: 'blobs',
  pack: 'data',
  index: 'index',
  snapshot: 'snapshots',
  lock: 'locks',
  mark: 'marks',
};

/** Format 2: `keys/<name>`, `blobs/<hh>/<name>`, `data/<hh>/<name>`, `index/<name>`, `snapshots/<name>`, `locks/<name>`, `marks/<name>`. */
export const LAYOUT_V2: Layout = {
  key(h) {
    check(h);
    if (h.type === 'config') return 'config';
    if (h.type === 'blob' || h.type === 'pack') return `${V1_PREFIX[h.type]}/${h.name.slice(0, 2)}/${h.name}`;
    return `${V1_PREFIX[h.type]}/${h.name}`;
  },
  prefix(type) {
    return V1_PREFIX[type];
  },
  nameOf(type, key) {
    if (type === 'config') return key === 'config' ? '' : undefined;
    if (type === 'blob' || type === 'pack') {
      const m = new RegExp(`^${V1_PREFIX[type]}/([0-9a-f]{2})/([0-9a-f]{64})$`).exec(key);
      return m && m[2]?.startsWith(m[1] as string) ? m[2] : undefined;
    }
    return flatName(V1_PREFIX[type], key);
  },
};

function flatName(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix + '/')) return undefined;
  const name = key.slice(prefix.length + 1);
  return NAME.test(name) && !name.startsWith('.') ? name : undefined;
}

export function layoutFor(version: number): Layout {
  return version >= 2 ? LAYOUT_V2 : LAYOUT_V1;
}

export function isHex64(name: string): boolean {
  return HEX64.test(name);
}

/**
 * Format-1 keys, for code that has not moved to handles yet (locks). New code goes
 * through Objects and handles.
 * @deprecated use Objects with a Handle
 */
export const keys = {
  config: 'config',
  blob(digest: Digest): string {
    return LAYOUT_V1.key({ type: 'blob', name: digestHex(digest) });
  },
  blobsPrefix: 'blobs',
  pack(hex: string): string {
    return LAYOUT_V1.key({ type: 'pack', name: hex });
  },
  packsPrefix: 'data',
  index(hex: string): string {
    return LAYOUT_V1.key({ type: 'index', name: hex });
  },
  indexPrefix: 'index',
  snapshot(hex: string): string {
    return LAYOUT_V1.key({ type: 'snapshot', name: hex });
  },
  snapshotsPrefix: 'snapshots',
  lock(name: string): string {
    return LAYOUT_V1.key({ type: 'lock', name });
  },
  locksPrefix: 'locks',
};

/** @deprecated use Layout.nameOf */
export function snapshotIdOfKey(key: string): string | undefined {
  return LAYOUT_V1.nameOf('snapshot', key);
}

/** @deprecated use Layout.nameOf */
export function indexIdOfKey(key: string): string | undefined {
  return LAYOUT_V1.nameOf('index', key);
}

/** @deprecated use Layout.nameOf */
export function packIdOfKey(key: string): string | undefined {
  return LAYOUT_V1.nameOf('pack', key);
}
