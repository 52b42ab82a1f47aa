/**
 * The system calls Node lacks, called in libc.so.6 through koffi. The library
 * is loaded on first use, so commands that never need these pay nothing.
 * A failing call throws a SysError carrying the errno name (`code`), the call
 * and the path, and where one is known, the fix.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import type * as KoffiModule from 'koffi';
import { TsbakError } from '../errors.js';

/** A failed system call: `code` is the errno name ('EOPNOTSUPP', 'ENODATA', ...). */
export class SysError extends TsbakError {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string | undefined;
  constructor(syscall: string, errno: number, options: { path?: string; what?: string; hint?: string } = {}) {
    const code = errnoName(errno);
    const what = options.what ?? (options.path !== undefined ? `\`${options.path}\`` : '');
    const hint = options.hint ?? defaultHint(syscall, code);
    super(`${syscall}${what ? ` on ${what}` : ''} failed: ${code} (${describeErrno(errno)})${hint ? `: ${hint}` : ''}`);
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.path = options.path;
  }
}

// --- errno names -----------------------------------------------------------

let errnoNames: Map<number, string> | undefined;

/** The conventional Linux name of an errno value (EOPNOTSUPP rather than its alias ENOTSUP). */
export function errnoName(errno: number): string {
  if (!errnoNames) {
    errnoNames = new Map();
    for (const [name, value] of Object.entries(osConstants.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name);
    const preferred: Record<string, number | undefined> = { EOPNOTSUPP: osConstants.errno.EOPNOTSUPP, EAGAIN: osConstants.errno.EAGAIN };
    for (const [name, value] of Object.entries(preferred)) if (value !== undefined) errnoNames.set(value, name);
  }
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

function describeErrno(errno: number): string {
  try {
    return libc().strerror(errno).toLowerCase();
  } catch {
    return `error ${errno}`;
  }
}

function defaultHint(syscall: string, code: string): string | undefined {
  switch (code) {
    case 'EOPNOTSUPP':
      if (syscall === 'ficlone') return 'the filesystem has no reflinks (use XFS made with reflink=1, or btrfs)';
      if (syscall.includes('xattr')) return 'the filesystem does not support this kind of extended attribute';
      return undefined;
    case 'EXDEV':
      return syscall === 'ficlone' ? 'source and destination must be on the same filesystem to be cloned' : undefined;
    case 'EPERM':
    case 'EACCES':
      if (syscall === 'mknod') return 'creating device nodes needs CAP_MKNOD: run as root';
      return 'permission denied: run as root or as the file\'s owner';
    default:
      return undefined;
  }
}

// --- the bindings ------------------------------------------------------------

type Koffi = typeof KoffiModule.default;
type Fn = (...args: unknown[]) => unknown;

interface Bindings {
  koffi: Koffi;
  ioctlInt: Fn;
  syncfs: Fn;
  llistxattr: Fn;
  lgetxattr: Fn;
  lsetxattr: Fn;
  mknod: Fn;
  utimensat: Fn;
  lseek: Fn;
  statx: Fn;
  strerror: (errno: number) => string;
}

let bindings: Bindings | undefined;

let loaded: { koffi: Koffi; lib: KoffiModule.LibraryHandle } | undefined;

/** koffi and the one handle on libc.so.6 that every binding module shares. */
export function loadLibc(): { koffi: Koffi; lib: KoffiModule.LibraryHandle } {
  if (loaded) return loaded;
  let koffi: Koffi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (err) {
    throw new TsbakError(`cannot load koffi, the FFI library tsbak calls libc with: ${(err as Error).message} (run npm install)`, { cause: err });
  }
  try {
    loaded = { koffi, lib: koffi.load('libc.so.6') };
  } catch (err) {
    throw new TsbakError(`cannot load libc.so.6 through koffi: ${(err as Error).message} (tsbak needs glibc on Linux)`, { cause: err });
  }
  return loaded;
}

function libc(): Bindings {
  if (bindings) return bindings;
  const { koffi, lib } = loadLibc();
  // Registered by name for the utimensat prototype below.
  koffi.struct('tsbak_timespec', { tv_sec: 'int64_t', tv_nsec: 'int64_t' });
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)');
  const strerror = lib.func('const char *strerror(int errnum)');
  bindings = {
    koffi,
    ioctlInt: (fd, request, arg) => ioctl(fd, request, 'int', arg),
    syncfs: lib.func('int syncfs(int fd)'),
    llistxattr: lib.func('intptr_t llistxattr(const char *path, void *list, size_t size)'),
    lgetxattr: lib.func('intptr_t lgetxattr(const char *path, const char *name, void *value, size_t size)'),
    lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
    mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    utimensat: lib.func('int utimensat(int dirfd, const char *path, const tsbak_timespec *times, int flags)'),
    lseek: lib.func('int64_t lseek(int fd, int64_t offset, int whence)'),
    statx: lib.func('int statx(int dirfd, const char *path, int flags, unsigned int mask, void *buf)'),
    strerror: (errno) => String(strerror(errno) ?? `error ${errno}`),
  };
  return bindings;
}

/** errno of the last call on this thread (koffi saves it right after each call). */
function lastErrno(b: Bindings): number {
  return b.koffi.errno();
}

// --- constants ---------------------------------------------------------------

/** ioctl FICLONE: _IOW(0x94, 9, int). */
export const FICLONE = 0x40049409;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

// --- calls -------------------------------------------------------------------

/** Makes `destFd`'s file share `srcFd`'s extents (a reflink copy). Throws SysError (EOPNOTSUPP, EXDEV, EINVAL) where unsupported. */
export function ficlone(destFd: number, srcFd: number): void {
  const b = libc();
  if (Number(b.ioctlInt(destFd, FICLONE, srcFd)) < 0) {
    throw new SysError('ficlone', lastErrno(b), { what: `fd ${destFd} from fd ${srcFd}` });
  }
}

/** Commits the filesystem that holds `fd` to disk. */
export function syncfs(fd: number): void {
  const b = libc();
  if (Number(b.syncfs(fd)) < 0) throw new SysError('syncfs', lastErrno(b), { what: `fd ${fd}` });
}

/**
 * The sizes of an xattr list or value change between the probe and the read
 * when someone writes concurrently; ERANGE then means "probe again".
 */
const XATTR_RETRIES = 8;

/** The extended attribute names of `path` (not following a symlink); [] where the filesystem has none. */
export function llistxattr(path: string): string[] {
  const b = libc();
  for (let attempt = 0; attempt < XATTR_RETRIES; attempt++) {
    const size = Number(b.llistxattr(path, null, 0));
    if (size < 0) {
      const errno = lastErrno(b);
      if (errnoName(errno) === 'EOPNOTSUPP') return [];
      throw new SysError('llistxattr', errno, { path });
    }
    if (size === 0) return [];
    const buf = Buffer.alloc(size);
    const got = Number(b.llistxattr(path, buf, size));
    if (got < 0) {
      const errno = lastErrno(b);
      if (errnoName(errno) === 'ERANGE') continue;
      if (errnoName(errno) === 'EOPNOTSUPP') return [];
      throw new SysError('llistxattr', errno, { path });
    }
    return buf
      .subarray(0, got)
      .toString('utf8')
      .split('\0')
      .filter((n) => n.length > 0);
  }
  throw new SysError('llistxattr', osConstants.errno.ERANGE, { path, hint: 'the attribute list kept changing while it was read' });
}

/** The value of extended attribute `name` of `path` (not following a symlink). ENODATA when it has none by that name. */
export function lgetxattr(path: string, name: string): Buffer {
  const b = libc();
  const fail = (errno: number): never => {
    const code = errnoName(errno);
    if (code === 'ENODATA') throw new SysError('lgetxattr', errno, { path, hint: `\`${path}\` has no extended attribute \`${name}\`` });
    if (code === 'EOPNOTSUPP') throw new SysError('lgetxattr', errno, { path, hint: `the filesystem of \`${path}\` does not support extended attribute \`${name}\`` });
    throw new SysError('lgetxattr', errno, { path, what: `\`${path}\` (attribute \`${name}\`)` });
  };
  for (let attempt = 0; attempt < XATTR_RETRIES; attempt++) {
    const size = Number(b.lgetxattr(path, name, null, 0));
    if (size < 0) return fail(lastErrno(b));
    if (size === 0) return Buffer.alloc(0);
    const buf = Buffer.alloc(size);
    const got = Number(b.lgetxattr(path, name, buf, size));
    if (got < 0) {
      const errno = lastErrno(b);
      if (errnoName(errno) === 'ERANGE') continue;
      return fail(errno);
    }
    return buf.subarray(0, got);
  }
  throw new SysError('lgetxattr', osConstants.errno.ERANGE, { path, hint: `attribute \`${name}\` kept changing while it was read` });
}

/** Sets extended attribute `name` of `path` (not following a symlink), creating or replacing it. */
export function lsetxattr(path: string, name: string, value: Buffer): void {
  const b = libc();
  if (Number(b.lsetxattr(path, name, value, value.length, 0)) < 0) {
    const errno = lastErrno(b);
    const code = errnoName(errno);
    const hint =
      code === 'EOPNOTSUPP'
        ? `the filesystem of \`${path}\` does not support extended attribute \`${name}\` (user.* attributes need a filesystem with xattrs, and are not allowed on symlinks or devices)`
        : code === 'EPERM' && name.startsWith('user.')
          ? `user.* attributes are not allowed on symlinks, devices or fifos`
          : code === 'EPERM'
            ? `setting \`${name}\` needs privileges: run as root`
            : undefined;
    throw new SysError('lsetxattr', errno, { path, what: `\`${path}\` (attribute \`${name}\`)`, ...(hint ? { hint } : {}) });
  }
}

/** glibc's gnu_dev_makedev: a 64-bit dev_t from a major and a minor number. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** The major number of a dev_t (as fs.Stats.rdev gives it). */
export function devMajor(dev: number | bigint): number {
  const d = BigInt(dev);
  return Number(((d >> 32n) & 0xfffff000n) | ((d >> 8n) & 0xfffn));
}

/** The minor number of a dev_t. */
export function devMinor(dev: number | bigint): number {
  const d = BigInt(dev);
  return Number(((d >> 12n) & 0xffffff00n) | (d & 0xffn));
}

/**
 * Creates a device node or fifo. `mode` carries the type (fs.constants.S_IFCHR,
 * S_IFBLK, S_IFIFO) and the permission bits (the umask applies).
 */
export function mknod(path: string, mode: number, major: number, minor: number): void {
  const b = libc();
  if (Number(b.mknod(path, mode >>> 0, makedev(major, minor))) < 0) throw new SysError('mknod', lastErrno(b), { path });
}

const NS_PER_S = 1_000_000_000n;

function timespecOf(ns: bigint): { tv_sec: bigint; tv_nsec: bigint } {
  let sec = ns / NS_PER_S;
  let nsec = ns % NS_PER_S;
  if (nsec < 0n) {
    nsec += NS_PER_S;
    sec -= 1n;
  }
  return { tv_sec: sec, tv_nsec: nsec };
}

/** Sets access and modification times with nanosecond precision; with `noFollow` on a symlink itself. */
export function utimensat(path: string, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean): void {
  const b = libc();
  const times = [timespecOf(atimeNs), timespecOf(mtimeNs)];
  if (Number(b.utimensat(AT_FDCWD, path, times, noFollow ? AT_SYMLINK_NOFOLLOW : 0)) < 0) {
    throw new SysError('utimensat', lastErrno(b), { path });
  }
}

function lseek(fd: number, offset: bigint, whence: number, name: string): bigint | null {
  const b = libc();
  const r = BigInt(b.lseek(fd, offset, whence) as number | bigint);
  if (r >= 0n) return r;
  const errno = lastErrno(b);
  if (errnoName(errno) === 'ENXIO') return null;
  throw new SysError(name, errno, { what: `fd ${fd} at offset ${offset}` });
}

/** The offset of the first data at or after `offset`; null when only a hole (or the end) follows. */
export function seekData(fd: number, offset: bigint): bigint | null {
  return lseek(fd, offset, SEEK_DATA, 'lseek(SEEK_DATA)');
}

/** The offset of the first hole at or after `offset` (the end of the file counts as a hole). */
export function seekHole(fd: number, offset: bigint): bigint {
  const r = lseek(fd, offset, SEEK_HOLE, 'lseek(SEEK_HOLE)');
  if (r === null) throw new SysError('lseek(SEEK_HOLE)', osConstants.errno.ENXIO, { what: `fd ${fd} at offset ${offset}`, hint: 'the offset is past the end of the file' });
  return r;
}

// --- statx: an lstat without allocations, for walks under a freeze -------------

/** Bytes of a `struct statx` (linux/stat.h): the same layout on every architecture. */
export const STATX_SIZE = 256;
/** Offsets in a `struct statx`; timestamps are { int64 tv_sec; uint32 tv_nsec; int32 pad }. */
export const STATX_OFFSET = { nlink: 16, mode: 28, ino: 32, size: 40, atime: 64, ctime: 96, mtime: 112, devMajor: 136, devMinor: 140 } as const;
const AT_NO_AUTOMOUNT = 0x800;
const STATX_BASIC_STATS = 0x7ff;

/**
 * lstat of `name` in the directory open as `dirfd` (statx with
 * AT_SYMLINK_NOFOLLOW) into `buf` (STATX_SIZE bytes). Returns 0, or the errno.
 * Read the fields with the helpers below: nothing is allocated per call,
 * which is what a walk of 100,000 entries under a freeze needs.
 */
export function lstatxAt(dirfd: number, name: string, buf: Buffer): number {
  const b = libc();
  return Number(b.statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, buf)) < 0 ? lastErrno(b) : 0;
}

/** A signed 64-bit field (seconds, sizes) as a number: exact below 2^53. */
export function statxInt64(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset) + buf.readInt32LE(offset + 4) * 0x1_0000_0000;
}
