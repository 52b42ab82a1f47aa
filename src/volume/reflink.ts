/**
 * The reflink path of a consistent volume backup: under the freeze, clone the
 * volume's tree into a scratch directory on the same filesystem (FICLONE shares
 * the data extents, so a clone costs metadata, not bytes), thaw, and back up
 * the clone at leisure. Only filesystems with reflinks (XFS reflink=1, btrfs)
 * take this path; everything else uses pre-copy.
 */
import { closeSync, constants as fsc, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, rmSync, symlinkSync, linkSync, chmodSync, lchownSync, writeFileSync, type BigIntStats } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ficlone, llistxattr, lgetxattr, lsetxattr, mknod, utimensat, devMajor, devMinor } from '../sys/libc.js';
import { errorMessage } from '../errors.js';
import { readMountinfo } from '../sys/mountinfo.js';

/**
 * A directory on the same filesystem as `dir` where a scratch clone can live,
 * outside `dir` itself (a volume's containers must not see it): the parent of
 * `dir` when it is on the same device, else the top of a mount of that device.
 */
export function scratchParentFor(dir: string): string | undefined {
  const dev = lstatSync(dir).dev;
  const parent = dirname(dir);
  if (parent !== dir && lstatSync(parent).dev === dev) return parent;
  const major = devMajor(dev);
  const minor = devMinor(dev);
  const candidates = readMountinfo().filter((m) => m.major === major && m.minor === minor && m.root === '/');
  for (const m of candidates) {
    try {
      if (lstatSync(m.mountPoint).dev === dev) return m.mountPoint;
    } catch {
      // not reachable from here
    }
  }
  return undefined;
}

/** Can files be cloned in `parent`? Probed with two scratch files (never touching user data). */
export function supportsReflink(parent: string): boolean {
  const probe = join(parent, `.tsbak-reflink-probe-${randomBytes(4).toString('hex')}`);
  let src = -1;
  let dst = -1;
  try {
    writeFileSync(`${probe}.a`, 'tsbak');
    src = openSync(`${probe}.a`, 'r');
    dst = openSync(`${probe}.b`, 'w');
    ficlone(dst, src);
    return true;
  } catch {
    return false;
  } finally {
    if (src >= 0) closeSync(src);
    if (dst >= 0) closeSync(dst);
    rmSync(`${probe}.a`, { force: true });
    rmSync(`${probe}.b`, { force: true });
  }
}

export interface CloneResult {
  /** The clone's root directory (remove it with removeClone). */
  root: string;
  files: number;
  problems: { path: string; message: string }[];
}

/**
 * Clone `source` into a new directory under `parent`: directories and special
 * files recreated, regular files reflinked, hard links kept, and metadata
 * (owner, mode, xattrs, mtime in ns) copied so the clone backs up as the original.
 */
export function cloneTree(source: string, parent: string): CloneResult {
  const root = join(parent, `.tsbak-clone-${randomBytes(6).toString('hex')}`);
  const result: CloneResult = { root, files: 0, problems: [] };
  const links = new Map<string, string>();
  const dirTimes: [string, BigIntStats][] = [];
  mkdirSync(root, { mode: 0o700 });
  // Owner, then mode (chown clears setuid), then xattrs (chown clears security.capability).
  const copyMeta = (from: string, path: string, st: BigIntStats, isLink: boolean) => {
    lchownSync(path, Number(st.uid), Number(st.gid));
    if (!isLink) chmodSync(path, Number(st.mode) & 0o7777);
    copyXattrs(from, path);
  };
  const walk = (src: string, dst: string, rel: string) => {
    for (const name of readdirSync(src)) {
      const s = join(src, name);
      const d = join(dst, name);
      const path = rel ? `${rel}/${name}` : name;
      try {
        const st = lstatSync(s, { bigint: true });
        if (st.isDirectory()) {
          if (st.dev !== lstatSync(source, { bigint: true }).dev) continue; // a mount point inside: not crossed
          mkdirSync(d, { mode: 0o700 });
          walk(s, d, path);
          dirTimes.push([d, st]);
        } else if (st.isFile()) {
          const key = `${st.dev}:${st.ino}`;
          const first = st.nlink > 1n ? links.get(key) : undefined;
          if (first) {
            linkSync(first, d);
            continue;
          }
          const from = openSync(s, fsc.O_RDONLY | fsc.O_NOFOLLOW);
          const to = openSync(d, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
          try {
            ficlone(to, from);
          } finally {
            closeSync(from);
            closeSync(to);
          }
          if (st.nlink > 1n) links.set(key, d);
          result.files++;
        } else if (st.isSymbolicLink()) {
          symlinkSync(readlinkSync(s), d);
        } else {
          mknod(d, Number(st.mode), devMajor(st.rdev), devMinor(st.rdev));
        }
        copyMeta(s, d, st, st.isSymbolicLink());
        if (!st.isDirectory()) utimensat(d, st.atimeNs, st.mtimeNs, true);
      } catch (err) {
        result.problems.push({ path, message: errorMessage(err) });
      }
    }
  };
  walk(source, root, '');
  const rootStat = lstatSync(source, { bigint: true });
  copyMeta(source, root, rootStat, false);
  dirTimes.push([root, rootStat]);
  // Directory times last: creating children changed them.
  for (const [dir, st] of dirTimes) utimensat(dir, st.atimeNs, st.mtimeNs, true);
  return result;
}

function copyXattrs(from: string, to: string): void {
  let names: string[];
  try {
    names = llistxattr(from);
  } catch {
    return;
  }
  for (const name of names) {
    try {
      lsetxattr(to, name, lgetxattr(from, name));
    } catch {
      // An xattr the clone refuses (a symlink's user.* namespace) is reported by the backup of the original, not here.
    }
  }
}

export function removeClone(root: string): void {
  rmSync(root, { recursive: true, force: true });
}
