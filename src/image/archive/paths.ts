import { posix } from 'node:path';
import { ArchiveError } from '../../errors.js';

/**
 * Normalise a path inside an archive. Entry names are only ever map keys
 * here (nothing is extracted to disk), but a hostile name is still refused
 * so that a crafted archive cannot alias one entry as another.
 */
export function archivePath(name: string, what: string): string {
  if (name.includes('\0')) throw new ArchiveError(`${what}: entry name contains a NUL byte`);
  if (name.startsWith('/')) throw new ArchiveError(`${what}: entry "${name}" has an absolute path; refusing the archive`);
  const normal = posix.normalize(name).replace(/\/+$/, '').replace(/^\.\//, '');
  if (normal === '..' || normal.startsWith('../')) {
    throw new ArchiveError(`${what}: entry "${name}" escapes the archive root; refusing the archive`);
  }
  return normal === '.' ? '' : normal;
}

/** Resolve a link target relative to the entry that holds it (symlinks) or to the root (hard links). */
export function linkTarget(entry: string, target: string, hard: boolean, what: string): string {
  if (target.startsWith('/')) throw new ArchiveError(`${what}: link "${entry}" points to absolute path "${target}"`);
  const joined = hard ? target : posix.join(posix.dirname(entry), target);
  return archivePath(joined, what);
}

/** `blobs/sha256/<hex>` → `sha256:<hex>`, else undefined. */
export function digestOfBlobPath(path: string): `sha256:${string}` | undefined {
  const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(path);
  return m ? `sha256:${m[1]}` : undefined;
}
