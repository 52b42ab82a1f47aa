/**
 * The system calls the volume engine needs beyond node:fs, from src/sys/libc.ts
 * (koffi), with the small policies the archiver and restorer share.
 */
import { SysError, devMajor, devMinor, errnoName, lgetxattr, llistxattr, lsetxattr, lstatxAt, mknod, seekData, seekHole, statxInt64, STATX_OFFSET, STATX_SIZE, utimensat } from '../sys/libc.js';

export { SysError, devMajor, devMinor, errnoName, lsetxattr, lstatxAt, mknod, seekData, seekHole, statxInt64, STATX_OFFSET, STATX_SIZE, utimensat };

/**
 * The extended attributes of `path` (not following symlinks) as name → base64.
 * Attributes that vanish between list and read are skipped; other failures
 * are returned as problems (e.g. trusted.* without privileges).
 */
export function readXattrs(path: string): { xattrs: Record<string, string> | undefined; problems: string[] } {
  const problems: string[] = [];
  let names: string[];
  try {
    names = llistxattr(path);
  } catch (err) {
    return { xattrs: undefined, problems: [err instanceof Error ? err.message : String(err)] };
  }
  if (names.length === 0) return { xattrs: undefined, problems };
  const out: Record<string, string> = {};
  for (const name of names.sort()) {
    try {
      out[name] = lgetxattr(path, name).toString('base64');
    } catch (err) {
      if (err instanceof SysError && err.code === 'ENODATA') continue; // removed meanwhile
      problems.push(err instanceof Error ? err.message : String(err));
    }
  }
  return { xattrs: Object.keys(out).length > 0 ? out : undefined, problems };
}
