/**
 * The *at system calls (relative to a directory file descriptor), called in
 * libc.so.6 through koffi, for code that must never follow a path outside a
 * directory it was given: the built-in runtime's layer unpacker, and whoever
 * reads a file of a container's root filesystem (openInRoot, readFileInRoot).
 *
 * Each call throws the project's SysError (errno name in `code`) on failure.
 * The hot paths of the unpacker use the `try*` variants instead, which return
 * a negative errno (-ENOENT, -EEXIST, ...) rather than throwing, so expected
 * outcomes cost no exception.
 *
 * Paths are JS strings or NUL-terminated Buffers: a string is passed as UTF-8;
 * a Buffer passes its bytes as they are (names that are not UTF-8). See
 * `cPath` for turning a byte string (latin1: one char per byte) into either.
 *
 * The library is loaded on first use, so commands that never need these pay nothing.
 */
import { closeSync, constants as fsc, readSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type * as KoffiModule from 'koffi';
import { TsbakError } from '../errors.js';
import { SysError, loadLibc } from './libc.js';

export { SysError } from './libc.js';

/** A path argument: a string (passed as UTF-8) or a NUL-terminated Buffer of raw bytes. */
export type PathArg = string | Buffer;

// --- constants (Linux; the generic values, as on x86-64 and arm64) ---------------

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_SYMLINK_FOLLOW = 0x400;
export const AT_EMPTY_PATH = 0x1000;

export const O_RDONLY = fsc.O_RDONLY;
export const O_WRONLY = fsc.O_WRONLY;
export const O_RDWR = fsc.O_RDWR;
export const O_CREAT = fsc.O_CREAT;
export const O_EXCL = fsc.O_EXCL;
export const O_TRUNC = fsc.O_TRUNC;
export const O_NOFOLLOW = fsc.O_NOFOLLOW;
export const O_DIRECTORY = fsc.O_DIRECTORY;
export const O_NONBLOCK = fsc.O_NONBLOCK;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;

/** openat2 `resolve` flags (linux/openat2.h). */
export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;
export const RESOLVE_IN_ROOT = 0x10;

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFSOCK = 0o140000;

const SYS_OPENAT2 = 437;
const STATX_BASIC_STATS = 0x7ff;

const E = osConstants.errno;

// --- the bindings ------------------------------------------------------------------

type Koffi = typeof KoffiModule.default;
type Fn = (...args: unknown[]) => number;

interface Bindings {
  koffi: Koffi;
  syscall: (...args: unknown[]) => number | bigint;
  openat: Fn;
  mkdirat: Fn;
  mknodat: Fn;
  symlinkat: Fn;
  linkat: Fn;
  unlinkat: Fn;
  renameat: Fn;
  readlinkat: Fn;
  fchownat: Fn;
  fchmodat: Fn;
  fchown: Fn;
  fchmod: Fn;
  utimensat: Fn;
  futimens: Fn;
  statx: Fn;
  fsetxattr: Fn;
  lsetxattr: Fn;
  close: Fn;
}

let bindings: Bindings | undefined;

function lib(): Bindings {
  if (bindings) return bindings;
  const { koffi, lib: handle } = loadLibc();
  const f = (proto: string) => handle.func(proto) as unknown as Fn;
  // Paths are declared `const char *`: koffi passes a JS string as UTF-8 and a Buffer as its bytes.
  bindings = {
    koffi,
    // glibc 2.36 has no openat2 wrapper; the variadic prototype keeps the ABI right.
    syscall: handle.func('long syscall(long number, ...)') as unknown as (...args: unknown[]) => number | bigint,
    openat: f('int openat(int dirfd, const char *path, int flags, uint32_t mode)'),
    mkdirat: f('int mkdirat(int dirfd, const char *path, uint32_t mode)'),
    mknodat: f('int mknodat(int dirfd, const char *path, uint32_t mode, uint64_t dev)'),
    symlinkat: f('int symlinkat(const char *target, int newdirfd, const char *linkpath)'),
    linkat: f('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)'),
    unlinkat: f('int unlinkat(int dirfd, const char *path, int flags)'),
    renameat: f('int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)'),
    readlinkat: f('intptr_t readlinkat(int dirfd, const char *path, void *buf, size_t size)'),
    fchownat: f('int fchownat(int dirfd, const char *path, uint32_t uid, uint32_t gid, int flags)'),
    fchmodat: f('int fchmodat(int dirfd, const char *path, uint32_t mode, int flags)'),
    fchown: f('int fchown(int fd, uint32_t uid, uint32_t gid)'),
    fchmod: f('int fchmod(int fd, uint32_t mode)'),
    utimensat: f('int utimensat(int dirfd, const char *path, const void *times, int flags)'),
    futimens: f('int futimens(int fd, const void *times)'),
    statx: f('int statx(int dirfd, const char *path, int flags, uint32_t mask, void *buf)'),
    fsetxattr: f('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)'),
    lsetxattr: f('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
    close: f('int close(int fd)'),
  };
  return bindings;
}

function errno(b: Bindings): number {
  return b.koffi.errno();
}

/** A printable form of a path argument. */
function show(path: PathArg): string {
  return typeof path === 'string' ? path : path.subarray(0, path.indexOf(0) < 0 ? path.length : path.indexOf(0)).toString('utf8');
}

function fail(syscall: string, code: number, dirfd: number, path: PathArg, hint?: string): never {
  const p = show(path);
  throw new SysError(syscall, code, { path: p, what: dirfd === AT_FDCWD ? `\`${p}\`` : `\`${p}\` (relative to fd ${dirfd})`, ...(hint ? { hint } : {}) });
}

/** A byte string (latin1: one char per byte) as a path argument: the string itself when ASCII, else its bytes. */
export function cPath(s: string): PathArg {
  // eslint-disable-next-line no-control-regex
  return /^[\x01-\x7f]*$/.test(s) ? s : Buffer.from(`${s}\0`, 'latin1');
}

// --- calls that return -errno --------------------------------------------------------

const howCache = new Map<string, Buffer>();

function openHow(flags: number, mode: number, resolve: number): Buffer {
  const key = `${flags}/${mode}/${resolve}`;
  let how = howCache.get(key);
  if (!how) {
    how = Buffer.alloc(24); // struct open_how { u64 flags; u64 mode; u64 resolve; }
    how.writeBigUInt64LE(BigInt(flags >>> 0), 0);
    how.writeBigUInt64LE(BigInt(mode >>> 0), 8);
    how.writeBigUInt64LE(BigInt(resolve >>> 0), 16);
    if (howCache.size < 64) howCache.set(key, how);
  }
  return how;
}

let openat2Missing = false;

/** True when the kernel has openat2 (Linux ≥ 5.6); false after it answered ENOSYS once. */
export function hasOpenat2(): boolean {
  return !openat2Missing;
}

/** openat2(2): an fd, or -errno. -ENOSYS when the kernel lacks it (remembered). */
export function tryOpenat2(dirfd: number, path: PathArg, flags: number, mode: number, resolve: number): number {
  if (openat2Missing) return -E.ENOSYS;
  const b = lib();
  const r = Number(b.syscall(SYS_OPENAT2, 'int', dirfd, 'const char *', path, 'void *', openHow(flags, mode, resolve), 'size_t', 24));
  if (r >= 0) return r;
  const e = errno(b);
  if (e === E.ENOSYS) openat2Missing = true;
  return -e;
}

/** openat(2): an fd, or -errno. */
export function tryOpenat(dirfd: number, path: PathArg, flags: number, mode = 0): number {
  const b = lib();
  const r = b.openat(dirfd, path, flags, mode);
  return r >= 0 ? r : -errno(b);
}

/** mkdirat(2): 0 or -errno. */
export function tryMkdirat(dirfd: number, path: PathArg, mode: number): number {
  const b = lib();
  return b.mkdirat(dirfd, path, mode) >= 0 ? 0 : -errno(b);
}

/** symlinkat(2): 0 or -errno. */
export function trySymlinkat(target: PathArg, dirfd: number, path: PathArg): number {
  const b = lib();
  return b.symlinkat(target, dirfd, path) >= 0 ? 0 : -errno(b);
}

/** linkat(2): 0 or -errno. */
export function tryLinkat(olddirfd: number, oldpath: PathArg, newdirfd: number, newpath: PathArg, flags = 0): number {
  const b = lib();
  return b.linkat(olddirfd, oldpath, newdirfd, newpath, flags) >= 0 ? 0 : -errno(b);
}

/** mknodat(2): 0 or -errno. */
export function tryMknodat(dirfd: number, path: PathArg, mode: number, dev: bigint = 0n): number {
  const b = lib();
  return b.mknodat(dirfd, path, mode >>> 0, dev) >= 0 ? 0 : -errno(b);
}

/** unlinkat(2): 0 or -errno. */
export function tryUnlinkat(dirfd: number, path: PathArg, flags = 0): number {
  const b = lib();
  return b.unlinkat(dirfd, path, flags) >= 0 ? 0 : -errno(b);
}

/** What statx says about a file (the fields the unpacker and the runtime use). */
export interface StatxResult {
  /** The type bits (S_IFMT part) of the mode. */
  type: number;
  /** The permission bits, setuid/setgid/sticky included. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: bigint;
  size: number;
  devMajor: number;
  devMinor: number;
}

const statxBuf = Buffer.alloc(256);

/** statx(2) of `path` relative to `dirfd` (flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH): the result, or -errno. */
export function tryStatx(dirfd: number, path: PathArg, flags: number): StatxResult | number {
  const b = lib();
  if (b.statx(dirfd, path, flags, STATX_BASIC_STATS, statxBuf) < 0) return -errno(b);
  const mode = statxBuf.readUInt16LE(28);
  return {
    type: mode & S_IFMT,
    mode: mode & 0o7777,
    nlink: statxBuf.readUInt32LE(16),
    uid: statxBuf.readUInt32LE(20),
    gid: statxBuf.readUInt32LE(24),
    ino: statxBuf.readBigUInt64LE(32),
    size: Number(statxBuf.readBigUInt64LE(40)),
    devMajor: statxBuf.readUInt32LE(136),
    devMinor: statxBuf.readUInt32LE(140),
  };
}

// --- calls that throw SysError -------------------------------------------------------

export function openat2(dirfd: number, path: PathArg, flags: number, mode: number, resolve: number): number {
  const r = tryOpenat2(dirfd, path, flags, mode, resolve);
  if (r < 0) fail('openat2', -r, dirfd, path, -r === E.ENOSYS ? 'the kernel has no openat2 (Linux 5.6 or later is needed)' : undefined);
  return r;
}

export function openat(dirfd: number, path: PathArg, flags: number, mode = 0): number {
  const r = tryOpenat(dirfd, path, flags, mode);
  if (r < 0) fail('openat', -r, dirfd, path);
  return r;
}

export function mkdirat(dirfd: number, path: PathArg, mode: number): void {
  const r = tryMkdirat(dirfd, path, mode);
  if (r < 0) fail('mkdirat', -r, dirfd, path);
}

/** mknodat(2); `mode` carries the type (S_IFIFO, S_IFCHR, ...) and the permission bits. */
export function mknodat(dirfd: number, path: PathArg, mode: number, dev: bigint = 0n): void {
  const r = tryMknodat(dirfd, path, mode, dev);
  if (r < 0) fail('mknodat', -r, dirfd, path);
}

export function symlinkat(target: PathArg, dirfd: number, path: PathArg): void {
  const r = trySymlinkat(target, dirfd, path);
  if (r < 0) fail('symlinkat', -r, dirfd, path);
}

/** linkat(2); flags 0 links a symlink itself, AT_SYMLINK_FOLLOW what it points at. */
export function linkat(olddirfd: number, oldpath: PathArg, newdirfd: number, newpath: PathArg, flags = 0): void {
  const r = tryLinkat(olddirfd, oldpath, newdirfd, newpath, flags);
  if (r < 0) fail('linkat', -r, newdirfd, newpath);
}

/** unlinkat(2); AT_REMOVEDIR removes an empty directory. */
export function unlinkat(dirfd: number, path: PathArg, flags = 0): void {
  const r = tryUnlinkat(dirfd, path, flags);
  if (r < 0) fail('unlinkat', -r, dirfd, path);
}

export function renameat(olddirfd: number, oldpath: PathArg, newdirfd: number, newpath: PathArg): void {
  const b = lib();
  if (b.renameat(olddirfd, oldpath, newdirfd, newpath) < 0) fail('renameat', errno(b), olddirfd, oldpath);
}

const PATH_MAX = 4096;
const linkBuf = Buffer.alloc(PATH_MAX);

/** The target of symlink `path`, as raw bytes (the kernel caps it at PATH_MAX). */
export function readlinkat(dirfd: number, path: PathArg): Buffer {
  const b = lib();
  const n = Number(b.readlinkat(dirfd, path, linkBuf, PATH_MAX));
  if (n < 0) fail('readlinkat', errno(b), dirfd, path);
  return Buffer.from(linkBuf.subarray(0, n));
}

/** fchownat(2); with AT_SYMLINK_NOFOLLOW a symlink itself. */
export function fchownat(dirfd: number, path: PathArg, uid: number, gid: number, flags: number): void {
  const b = lib();
  if (b.fchownat(dirfd, path, uid >>> 0, gid >>> 0, flags) < 0) fail('fchownat', errno(b), dirfd, path);
}

/** fchmodat(2). It follows a symlink at `path` (Linux cannot chmod a symlink): call it on what is known not to be one. */
export function fchmodat(dirfd: number, path: PathArg, mode: number): void {
  const b = lib();
  if (b.fchmodat(dirfd, path, mode & 0o7777, 0) < 0) fail('fchmodat', errno(b), dirfd, path);
}

export function fchown(fd: number, uid: number, gid: number): void {
  const b = lib();
  if (b.fchown(fd, uid >>> 0, gid >>> 0) < 0) throw new SysError('fchown', errno(b), { what: `fd ${fd}` });
}

export function fchmod(fd: number, mode: number): void {
  const b = lib();
  if (b.fchmod(fd, mode & 0o7777) < 0) throw new SysError('fchmod', errno(b), { what: `fd ${fd}` });
}

/** Two struct timespec (atime, mtime) for utimensat/futimens, from seconds and nanoseconds. */
export function timespecs(atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number, into: Buffer = Buffer.alloc(32)): Buffer {
  into.writeBigInt64LE(BigInt(Math.trunc(atimeSec)), 0);
  into.writeBigInt64LE(BigInt(atimeNsec | 0), 8);
  into.writeBigInt64LE(BigInt(Math.trunc(mtimeSec)), 16);
  into.writeBigInt64LE(BigInt(mtimeNsec | 0), 24);
  return into;
}

/** utimensat(2) relative to `dirfd`; `times` from timespecs(); AT_SYMLINK_NOFOLLOW sets a symlink's own times. */
export function utimensat(dirfd: number, path: PathArg, times: Buffer, flags: number): void {
  const b = lib();
  if (b.utimensat(dirfd, path, times, flags) < 0) fail('utimensat', errno(b), dirfd, path);
}

/** futimens(3): the times of an open file; `times` from timespecs(). */
export function futimens(fd: number, times: Buffer): void {
  const b = lib();
  if (b.futimens(fd, times) < 0) throw new SysError('futimens', errno(b), { what: `fd ${fd}` });
}

/** statx(2), throwing on failure (ENOENT included). */
export function statx(dirfd: number, path: PathArg, flags: number): StatxResult {
  const r = tryStatx(dirfd, path, flags);
  if (typeof r === 'number') fail('statx', -r, dirfd, path);
  return r;
}

/** fsetxattr(2): sets extended attribute `name` of an open file (creating or replacing it). */
export function fsetxattr(fd: number, name: PathArg, value: Uint8Array): void {
  const b = lib();
  if (b.fsetxattr(fd, name, value, value.length, 0) < 0) {
    throw new SysError('fsetxattr', errno(b), { what: `fd ${fd} (attribute \`${show(name)}\`)` });
  }
}

/**
 * Sets extended attribute `name` of the entry `path` in the directory open as
 * `dirfd`, not following a symlink there (for symlinks and fifos, which cannot
 * be opened for fsetxattr). Goes through /proc/self/fd/<dirfd>, a magic link to
 * the directory itself, so nothing above the directory is resolved again.
 */
export function lsetxattrAt(dirfd: number, path: string, name: PathArg, value: Uint8Array): void {
  const b = lib();
  const full = cPath(`/proc/self/fd/${dirfd}/${path}`);
  if (b.lsetxattr(full, name, value, value.length, 0) < 0) {
    throw new SysError('lsetxattr', errno(b), { path: show(full), what: `\`${show(path)}\` (attribute \`${show(name)}\`)` });
  }
}

export function close(fd: number): void {
  closeSync(fd);
}

// --- reading inside a root filesystem ---------------------------------------------------

/**
 * Opens `relPath` inside the directory `root` (a path or an open directory fd)
 * with chroot semantics: absolute symlinks and `..` resolve against `root` and
 * can never leave it (openat2 RESOLVE_IN_ROOT), and /proc magic links are
 * refused (RESOLVE_NO_MAGICLINKS). A leading `/` in `relPath` is the root.
 * `flags` default to O_RDONLY; O_CLOEXEC is always added. Returns an fd the
 * caller closes. Throws SysError (ENOENT, ELOOP, ...).
 */
export function openInRoot(root: string | number, relPath: string, flags: number = O_RDONLY, mode = 0): number {
  const rootfd = typeof root === 'number' ? root : openat(AT_FDCWD, root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  try {
    const rel = relPath.replace(/^\/+/, '') || '.';
    const r = tryOpenat2(rootfd, rel, flags | O_CLOEXEC, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (r < 0) {
      const where = typeof root === 'string' ? `\`${relPath}\` in ${root}` : `\`${relPath}\` in the root open as fd ${rootfd}`;
      throw new SysError('openat2', -r, {
        path: relPath,
        what: where,
        ...(-r === E.ENOSYS ? { hint: 'the kernel has no openat2 (Linux 5.6 or later is needed)' } : {}),
      });
    }
    return r;
  } finally {
    if (typeof root !== 'number') closeSync(rootfd);
  }
}

/**
 * Reads a whole (small) file inside `root` with chroot semantics (see
 * openInRoot): e.g. a container's /etc/passwd, whose path may be a symlink
 * planted to point at the host's. Refuses what is not a regular file, and
 * files larger than `limit` bytes (default 16 MiB).
 */
export function readFileInRoot(root: string | number, relPath: string, limit = 16 << 20): Buffer {
  const fd = openInRoot(root, relPath, O_RDONLY | O_NONBLOCK);
  try {
    const st = statx(fd, '', AT_EMPTY_PATH);
    if (st.type !== S_IFREG) {
      throw new TsbakError(`\`${relPath}\` in the container's root filesystem is not a regular file; refusing to read it`);
    }
    if (st.size > limit) {
      throw new TsbakError(`\`${relPath}\` in the container's root filesystem is ${st.size} bytes, more than the ${limit} this reads into memory`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(Math.max(st.size - total, 0) + 1, 1 << 20) || 1);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > limit) throw new TsbakError(`\`${relPath}\` in the container's root filesystem grew past ${limit} bytes while it was read`);
      chunks.push(buf.subarray(0, n));
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}
