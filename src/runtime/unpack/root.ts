/**
 * Directory resolution scoped to a root filesystem, with a cache of resolved
 * directory fds.
 *
 * Policy: a directory path is resolved inside the root only. A symlink on the
 * way that stays inside (relative, or absolute: `var/run -> /run` means the
 * root's /run, as chroot would) is followed; one whose `..` would climb above
 * the root (`evil -> ../../../tmp`) makes the entry an escape, refused.
 *
 * Two layers of defence:
 *  - fast path: openat2(rootfd, dir, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
 *    the kernel fails with EXDEV rather than leave the root (absolute symlinks
 *    included), so whatever succeeds is inside;
 *  - slow path (EXDEV, ENOENT, ENOTDIR, ELOOP, no openat2): a walk one component
 *    at a time with O_NOFOLLOW, reading symlinks and interpreting them with
 *    chroot semantics, detecting `..` above the root, creating missing
 *    directories; the canonical path it finds is then opened with openat2
 *    RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, so even a bug
 *    in the walk could not take a write outside the root.
 *
 * The last component of an entry is never resolved here: callers use *at
 * calls with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW on it, relative to the fd this returns.
 */
import { constants as osConstants } from 'node:os';
import {
  AT_EMPTY_PATH,
  AT_SYMLINK_NOFOLLOW,
  O_CLOEXEC,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_PATH,
  RESOLVE_BENEATH,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
  S_IFDIR,
  S_IFLNK,
  SysError,
  close,
  cPath,
  readlinkat,
  statx,
  tryMkdirat,
  tryOpenat,
  tryOpenat2,
  tryStatx,
} from '../../sys/fsat.js';
import { LayerEscapeError, LayerApplyError } from './errors.js';
import { displayName } from './tar.js';

const E = osConstants.errno;
const DIR_FLAGS = O_PATH | O_DIRECTORY | O_CLOEXEC;
/** Resolved directories kept open; entries come grouped by directory, so a few hundred cover a layer's working set. */
const CACHE_SIZE = 256;
/** As the kernel's limit on symlinks followed in one lookup. */
const MAX_SYMLINKS = 40;

/** A directory of the rootfs, open. `key` identifies it (device-independent inode number), for "created by this layer" bookkeeping. */
export interface Dir {
  fd: number;
  /** `${ino}/`: the prefix of the identity of an entry in this directory. */
  key: string;
}

export class Root {
  readonly dir: Dir;
  private readonly cache = new Map<string, Dir>();
  private last: { path: string; dir: Dir } | undefined;
  /** fds dropped from the cache while a caller may still hold them; closed at the next `release()`. */
  private retired: number[] = [];

  /**
   * @param fd the root directory, open (O_PATH is enough); not closed here.
   * @param onCreate called with a directory this resolution created (a missing parent).
   */
  constructor(
    fd: number,
    private readonly label: string,
    private readonly onCreate: (parent: Dir, name: string) => void,
  ) {
    this.dir = { fd, key: `${statx(fd, '', AT_EMPTY_PATH).ino}/` };
  }

  /**
   * The directory at normalized path `dir` ('' for the root), resolved inside
   * the root. With `create`, missing directories are made (0755, root-owned);
   * without, undefined when something on the way is missing. `entry` (a byte
   * string) names the tar entry for messages. The fd stays valid until the next `release()`.
   */
  resolve(dir: string, entry: string, create: boolean): Dir | undefined {
    if (dir === '') return this.dir;
    if (this.last && this.last.path === dir) return this.last.dir;
    let hit = this.cache.get(dir);
    if (hit) {
      // most recently used last
      this.cache.delete(dir);
      this.cache.set(dir, hit);
    } else {
      const fd = tryOpenat2(this.dir.fd, cPath(dir), DIR_FLAGS, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
      if (fd >= 0) hit = this.remember(dir, fd);
      else if (fd === -E.EXDEV || fd === -E.ENOENT || fd === -E.ENOTDIR || fd === -E.ELOOP || fd === -E.ENOSYS) {
        const walked = this.walk(dir, entry, create);
        if (walked === undefined) return undefined;
        hit = this.remember(dir, walked);
      } else throw this.sysFailure(entry, new SysError('openat2', -fd, { path: displayName(dir) }));
    }
    this.last = { path: dir, dir: hit };
    return hit;
  }

  /** Caches `fd`, open on the directory at lexical path `path`; the cache owns it from now on. */
  remember(path: string, fd: number, ino?: bigint): Dir {
    const dir: Dir = { fd, key: `${ino ?? statx(fd, '', AT_EMPTY_PATH).ino}/` };
    const old = this.cache.get(path);
    if (old) {
      this.cache.delete(path);
      this.retired.push(old.fd);
    }
    this.cache.set(path, dir);
    if (this.cache.size > CACHE_SIZE) {
      const [oldestPath, oldest] = this.cache.entries().next().value as [string, Dir];
      this.cache.delete(oldestPath);
      this.retired.push(oldest.fd);
    }
    if (this.last?.path === path) this.last = undefined;
    return dir;
  }

  /**
   * Forgets every resolved directory: after a directory or a symlink was
   * removed, a cached path may no longer lead where it did. The fds stay open
   * until `release()`, so a caller's current ones remain usable.
   */
  forgetAll(): void {
    for (const d of this.cache.values()) this.retired.push(d.fd);
    this.cache.clear();
    this.last = undefined;
  }

  /** Closes what forgetAll and eviction dropped; call between entries. */
  release(): void {
    if (this.retired.length === 0) return;
    for (const fd of this.retired) close(fd);
    this.retired = [];
  }

  /** Closes every cached fd (not the root's). */
  closeAll(): void {
    this.forgetAll();
    this.release();
  }

  /** The slow path: a walk one component at a time (see the file comment). Returns an fd the caller owns. */
  private walk(dir: string, entry: string, create: boolean): number | undefined {
    const stack: { name: string; dir: Dir }[] = [];
    const queue = dir.split('/').reverse();
    let links = 0;
    let lastLink: { at: string; target: string } | undefined;
    const here = () => (stack.length > 0 ? (stack[stack.length - 1] as { dir: Dir }).dir : this.dir);
    const where = () => stack.map((s) => s.name).join('/');
    try {
      while (queue.length > 0) {
        const c = queue.pop() as string;
        if (c === '' || c === '.') continue;
        if (c === '..') {
          if (stack.length === 0) {
            const how = lastLink ? `through symlink ${JSON.stringify(displayName(lastLink.at))} -> ${JSON.stringify(displayName(lastLink.target))}, which climbs above the root` : 'climbs above the root';
            throw new LayerEscapeError(this.label, displayName(entry), how);
          }
          close((stack.pop() as { dir: Dir }).dir.fd);
          continue;
        }
        const parent = here();
        let fd = tryOpenat(parent.fd, cPath(c), DIR_FLAGS | O_NOFOLLOW);
        if (fd === -E.ENOENT && create) {
          const made = tryMkdirat(parent.fd, cPath(c), 0o755);
          if (made < 0 && made !== -E.EEXIST) throw this.sysFailure(entry, new SysError('mkdirat', -made, { path: displayName(join(where(), c)) }));
          if (made === 0) this.onCreate(parent, c);
          fd = tryOpenat(parent.fd, cPath(c), DIR_FLAGS | O_NOFOLLOW);
        }
        if (fd === -E.ENOENT && !create) return undefined;
        if (fd === -E.ENOTDIR || fd === -E.ELOOP) {
          const st = tryStatx(parent.fd, cPath(c), AT_SYMLINK_NOFOLLOW);
          if (typeof st !== 'number' && st.type === S_IFLNK) {
            if (++links > MAX_SYMLINKS) throw new LayerApplyError(this.label, displayName(entry), `more than ${MAX_SYMLINKS} symlinks on the way to ${JSON.stringify(displayName(dir))}`);
            const target = readlinkat(parent.fd, cPath(c)).toString('latin1');
            lastLink = { at: join(where(), c), target };
            if (target.startsWith('/')) {
              // absolute: from the root, as chroot would
              for (const s of stack) close(s.dir.fd);
              stack.length = 0;
            }
            const parts = target.split('/');
            for (let i = parts.length - 1; i >= 0; i--) queue.push(parts[i] as string);
            continue;
          }
          if (typeof st !== 'number' && st.type !== S_IFDIR) {
            throw new LayerApplyError(this.label, displayName(entry), `${JSON.stringify(displayName(join(where(), c)))} is not a directory, so nothing can be created under it`);
          }
        }
        if (fd < 0) throw this.sysFailure(entry, new SysError('openat', -fd, { path: displayName(join(where(), c)) }));
        const st = statx(fd, '', AT_EMPTY_PATH);
        stack.push({ name: c, dir: { fd, key: `${st.ino}/` } });
      }
      const canonical = where();
      if (canonical === '') return tryOpenat(this.dir.fd, '.', DIR_FLAGS);
      // The kernel re-resolves the canonical path scoped to the root, without any symlink.
      const fd = tryOpenat2(this.dir.fd, cPath(canonical), DIR_FLAGS, 0, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
      if (fd >= 0) return fd;
      if (fd !== -E.ENOSYS) throw this.sysFailure(entry, new SysError('openat2', -fd, { path: displayName(canonical) }));
      // No openat2: the walk's own fd, reached one O_NOFOLLOW component at a time, is the answer.
      return (stack.pop() as { dir: Dir }).dir.fd;
    } finally {
      for (const s of stack) close(s.dir.fd);
    }
  }

  private sysFailure(entry: string, err: SysError): LayerApplyError {
    return new LayerApplyError(this.label, displayName(entry), err.message, { cause: err });
  }
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}
