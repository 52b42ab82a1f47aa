/**
 * Applying image layers (uncompressed tars) onto a root filesystem directory,
 * with the OCI image-spec layer semantics, treating every layer as hostile.
 *
 * What is created: regular files, directories, symlinks, hard links (to
 * something already in the rootfs: earlier in this layer or in a lower one;
 * the link's header owner, mode, xattrs and times go on the shared inode, as
 * Docker and containerd do) and fifos, with the tar's numeric owner (when running as root), mode
 * (setuid/setgid/sticky included, set after the chown that would clear them),
 * extended attributes (`SCHILY.xattr.*`, `security.capability` included, set
 * after chown and data, which clear it) and times (a directory's after its
 * children, at the end of the layer).
 *
 * **Device nodes (character and block) are not created**: each one is
 * recorded in `warnings` and skipped. The runtime provides /dev itself.
 *
 * Whiteouts: `.wh.NAME` deletes NAME of the lower layers; `.wh..wh..opq` in a
 * directory hides everything the lower layers have in it, as if it came first
 * in the tar wherever it is (entries of the same layer survive). Neither is
 * created. An entry replacing one of another type removes it first (a
 * directory recursively); an existing directory stays and takes the entry's
 * metadata. An existing file is never opened for writing (a hard link would
 * carry the write into another file): it is unlinked and created anew with
 * O_CREAT|O_EXCL|O_NOFOLLOW.
 *
 * Security: see root.ts for how directories are resolved. Names are checked
 * lexically first (absolute, or `..` above the root: refused); hard link
 * targets and whiteouts likewise; every last component is handled with *at
 * calls and NOFOLLOW relative to a directory fd from the scoped resolution.
 * Each refusal is a LayerEscapeError naming the layer and the entry, thrown
 * before the entry writes anything. A failed layer leaves the rootfs partly
 * unpacked: the caller discards it.
 */
import { mkdirSync, readdirSync, write, writeSync, type Dirent } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable } from 'node:stream';
import { TsbakError, errorMessage } from '../../errors.js';
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_REMOVEDIR,
  AT_SYMLINK_NOFOLLOW,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_PATH,
  O_RDONLY,
  O_WRONLY,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  SysError,
  close,
  cPath,
  fchmod,
  fchmodat,
  fchown,
  fchownat,
  fsetxattr,
  futimens,
  lsetxattrAt,
  openat,
  statx,
  timespecs,
  tryLinkat,
  tryMkdirat,
  tryMknodat,
  tryOpenat,
  tryStatx,
  trySymlinkat,
  tryUnlinkat,
  unlinkat,
  utimensat,
} from '../../sys/fsat.js';
import { LayerApplyError, LayerEscapeError, LayerFormatError } from './errors.js';
import { normalizeName, splitPath } from './paths.js';
import { Root, type Dir } from './root.js';
import { EntryType, displayName, readTar, type TarEntry, type TarHandler } from './tar.js';

const E = osConstants.errno;

export interface LayerStats {
  /** Tar entries read (pax and long-name records not counted). */
  entries: number;
  /** Regular files written. */
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  fifos: number;
  /** Bytes of file data written. */
  bytes: number;
  /** Whiteout entries applied (`.wh.NAME` and `.wh..wh..opq`). */
  whiteouts: number;
  /** Entries not created (device nodes, unsupported types). */
  skipped: number;
  /** What was skipped or could not be set, one sentence each, naming the layer and the entry. */
  warnings: string[];
}

export interface ApplyLayerOptions {
  /** Names the layer in errors and warnings, e.g. `layer 2 (sha256:abcd…) of app:1`. */
  label: string;
  /** Give entries the tar's numeric uid/gid. Default: when running as root. */
  owners?: boolean;
}

/** A layer tar: a stream of bytes (a Readable is one). */
export type LayerStream = Readable | AsyncIterable<Uint8Array>;

export interface LayerInput {
  label: string;
  /** The uncompressed tar, or a function that opens it when its turn comes. */
  stream: LayerStream | (() => LayerStream | Promise<LayerStream>);
}

export interface ImageUnpackStats extends LayerStats {
  /** Per layer, in the order applied. */
  layers: LayerStats[];
}

export function emptyStats(): LayerStats {
  return { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, fifos: 0, bytes: 0, whiteouts: 0, skipped: 0, warnings: [] };
}

/** Writes of up to this size go straight from the event loop; larger ones through libuv's pool, overlapping the next read. */
const SYNC_WRITE_MAX = 128 << 10;
const FILE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
const DIR_OPEN = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
const OPAQUE = '.wh..wh..opq';
const WHITEOUT = '.wh.';

/**
 * Applies one uncompressed layer tar onto the directory `rootfs` (which must
 * exist), streaming: file data goes to disk in the pieces it arrives in.
 * Throws LayerEscapeError for an entry that would reach outside the root,
 * LayerFormatError for a malformed tar, LayerApplyError when an entry cannot
 * be written.
 */
export async function applyLayer(rootfs: string, layer: LayerStream, options: ApplyLayerOptions): Promise<LayerStats> {
  let rootfd: number;
  try {
    rootfd = openat(AT_FDCWD, rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  } catch (err) {
    throw new TsbakError(`cannot unpack ${options.label}: the root filesystem directory ${rootfs} cannot be opened: ${errorMessage(err)}`, { cause: err });
  }
  const applier = new LayerApplier(rootfd, options);
  try {
    await readTar(layer, applier);
    applier.finish();
    return applier.stats;
  } catch (err) {
    throw applier.failure(err);
  } finally {
    applier.dispose();
    close(rootfd);
  }
}

/**
 * Applies the layers of an image in order onto `rootfs` (created if missing,
 * mode 0755). Each layer's stream is opened when its turn comes when given as
 * a function. Stops at the first failing layer.
 */
export async function unpackImage(
  rootfs: string,
  layers: AsyncIterable<LayerInput> | Iterable<LayerInput>,
  options: { owners?: boolean; onLayer?: (label: string, stats: LayerStats) => void } = {},
): Promise<ImageUnpackStats> {
  mkdirSync(rootfs, { recursive: true, mode: 0o755 });
  const total: ImageUnpackStats = { ...emptyStats(), layers: [] };
  for await (const input of layers) {
    const stream = typeof input.stream === 'function' ? await input.stream() : input.stream;
    const stats = await applyLayer(rootfs, stream, { label: input.label, ...(options.owners !== undefined ? { owners: options.owners } : {}) });
    total.layers.push(stats);
    for (const k of ['entries', 'files', 'dirs', 'symlinks', 'hardlinks', 'fifos', 'bytes', 'whiteouts', 'skipped'] as const) total[k] += stats[k];
    total.warnings.push(...stats.warnings);
    options.onLayer?.(input.label, stats);
  }
  return total;
}

interface DirTimes {
  ino: bigint;
  times: Buffer;
  /** The final mode, when it could not be set at once (not root: the directory must stay writable until the end). */
  mode: number | undefined;
}

function writeAsync(fd: number, data: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number) => {
      if (offset >= data.length) return resolve();
      write(fd, data, offset, data.length - offset, position + offset, (err, n) => (err ? reject(err) : step(offset + n)));
    };
    step(0);
  });
}

class LayerApplier implements TarHandler {
  readonly stats = emptyStats();
  private readonly label: string;
  private readonly owners: boolean;
  private readonly root: Root;
  /** Entries this layer made, as `${parent inode}/${name}`: whiteouts and opaque directories spare them. */
  private readonly mine = new Set<string>();
  /** Directories of this layer by path, their times set at the end. */
  private readonly dirTimes = new Map<string, DirTimes>();
  private readonly times = Buffer.alloc(32);
  private current: TarEntry | undefined;
  private file: { fd: number; pos: number; entry: TarEntry } | undefined;

  constructor(rootfd: number, options: ApplyLayerOptions) {
    this.label = options.label;
    this.owners = options.owners ?? process.getuid?.() === 0;
    this.root = new Root(rootfd, this.label, (parent, name) => this.mine.add(parent.key + name));
  }

  // --- TarHandler ---------------------------------------------------------------

  entry(e: TarEntry): void {
    this.current = e;
    this.stats.entries++;
    this.root.release();
    const n = normalizeName(e.name);
    if ('escape' in n) throw new LayerEscapeError(this.label, displayName(e.name), n.escape === 'absolute' ? 'it is an absolute path' : undefined);
    if ('invalid' in n) throw new LayerFormatError(`${this.label}: an entry has ${n.invalid} (at offset ${e.offset}); the layer is corrupt`);
    const path = n.path;
    if (path === '') return this.rootEntry(e);
    const [dir, base] = splitPath(path);
    if (base.startsWith(WHITEOUT)) return this.whiteout(e, dir, base);
    switch (e.type) {
      case EntryType.File:
        return this.createFile(e, path, dir, base);
      case EntryType.Directory:
        return this.directory(e, path, dir, base);
      case EntryType.Symlink:
        return this.symlink(e, path, dir, base);
      case EntryType.Link:
        return this.hardlink(e, path, dir, base);
      case EntryType.Fifo:
        return this.fifo(e, path, dir, base);
      case EntryType.CharDevice:
      case EntryType.BlockDevice:
        this.stats.skipped++;
        this.warn(
          `${e.type === EntryType.CharDevice ? 'character' : 'block'} device ${e.devmajor}:${e.devminor} not created (device nodes are never unpacked; the runtime provides /dev)`,
        );
        return;
      default:
        this.stats.skipped++;
        this.warn(`tar entry of type ${JSON.stringify(String.fromCharCode(e.type))} is not a file, directory, link or fifo; skipped`);
    }
  }

  data(piece: Buffer): void | Promise<void> {
    const f = this.file as { fd: number; pos: number };
    const pos = f.pos;
    f.pos += piece.length;
    this.stats.bytes += piece.length;
    if (piece.length <= SYNC_WRITE_MAX) {
      let off = 0;
      while (off < piece.length) off += writeSync(f.fd, piece, off, piece.length - off, pos + off);
      return;
    }
    return writeAsync(f.fd, piece, pos);
  }

  end(): void {
    const f = this.file;
    if (!f) return;
    const e = f.entry;
    if (this.owners) fchown(f.fd, e.uid, e.gid);
    fchmod(f.fd, e.mode);
    if (e.xattrs) for (const [name, value] of e.xattrs) this.xattr(name, () => fsetxattr(f.fd, cPath(name), value));
    futimens(f.fd, this.timesOf(e));
    this.file = undefined;
    close(f.fd);
  }

  // --- entry kinds ------------------------------------------------------------------

  private parent(dir: string, e: TarEntry): Dir {
    return this.root.resolve(dir, e.name, true) as Dir;
  }

  private createFile(e: TarEntry, path: string, dir: string, base: string): void {
    const parent = this.parent(dir, e);
    const name = cPath(base);
    let fd = tryOpenat(parent.fd, name, FILE_FLAGS, 0o600);
    if (fd === -E.EEXIST) {
      this.removeExisting(parent, base, path);
      fd = tryOpenat(parent.fd, name, FILE_FLAGS, 0o600);
    }
    if (fd < 0) throw new SysError('openat', -fd, { path: displayName(path) });
    this.mine.add(parent.key + base);
    this.dirTimes.delete(path);
    this.stats.files++;
    this.file = { fd, pos: 0, entry: e };
  }

  private directory(e: TarEntry, path: string, dir: string, base: string): void {
    const parent = this.parent(dir, e);
    const name = cPath(base);
    let made = tryMkdirat(parent.fd, name, 0o700);
    if (made === -E.EEXIST) {
      const st = tryStatx(parent.fd, name, AT_SYMLINK_NOFOLLOW);
      if (typeof st === 'number' || st.type !== S_IFDIR) {
        this.removeExisting(parent, base, path);
        made = tryMkdirat(parent.fd, name, 0o700);
      } else made = 0; // an existing directory stays: it takes this entry's metadata
    }
    if (made < 0) throw new SysError('mkdirat', -made, { path: displayName(path) });
    const fd = openat(parent.fd, name, DIR_OPEN);
    let ino: bigint;
    try {
      ino = this.dirMetadata(fd, e);
    } catch (err) {
      close(fd);
      throw err;
    }
    this.root.remember(path, fd, ino);
    this.mine.add(parent.key + base);
    this.dirTimes.set(path, { ino, times: timespecs(e.atimeSec, e.atimeNsec, e.mtimeSec, e.mtimeNsec), mode: this.owners ? undefined : e.mode });
    this.stats.dirs++;
  }

  /** Owner, mode and xattrs of an open directory; returns its inode number. */
  private dirMetadata(fd: number, e: TarEntry): bigint {
    if (this.owners) fchown(fd, e.uid, e.gid);
    // Not root: keep it writable for the children to come; the final mode is set at the end.
    fchmod(fd, this.owners ? e.mode : e.mode | 0o700);
    if (e.xattrs) for (const [name, value] of e.xattrs) this.xattr(name, () => fsetxattr(fd, cPath(name), value));
    return statx(fd, '', AT_EMPTY_PATH).ino;
  }

  /** The entry `./`: the root directory's own metadata. */
  private rootEntry(e: TarEntry): void {
    if (e.type !== EntryType.Directory) {
      throw new LayerFormatError(`${this.label}: entry ${JSON.stringify(displayName(e.name))} names the root directory but is not a directory; the layer is corrupt`);
    }
    const fd = openat(this.root.dir.fd, '.', DIR_OPEN);
    try {
      const ino = this.dirMetadata(fd, e);
      this.dirTimes.set('', { ino, times: timespecs(e.atimeSec, e.atimeNsec, e.mtimeSec, e.mtimeNsec), mode: this.owners ? undefined : e.mode });
    } finally {
      close(fd);
    }
    this.stats.dirs++;
  }

  private symlink(e: TarEntry, path: string, dir: string, base: string): void {
    const parent = this.parent(dir, e);
    const name = cPath(base);
    const target = cPath(e.linkname);
    let r = trySymlinkat(target, parent.fd, name);
    if (r === -E.EEXIST) {
      this.removeExisting(parent, base, path);
      r = trySymlinkat(target, parent.fd, name);
    }
    if (r < 0) throw new SysError('symlinkat', -r, { path: displayName(path) });
    this.mine.add(parent.key + base);
    this.dirTimes.delete(path);
    if (this.owners) fchownat(parent.fd, name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW);
    if (e.xattrs) for (const [xname, value] of e.xattrs) this.xattr(xname, () => lsetxattrAt(parent.fd, base, cPath(xname), value));
    utimensat(parent.fd, name, this.timesOf(e), AT_SYMLINK_NOFOLLOW);
    this.stats.symlinks++;
  }

  private hardlink(e: TarEntry, path: string, dir: string, base: string): void {
    const t = normalizeName(e.linkname);
    const show = displayName(e.name);
    if ('escape' in t) {
      throw new LayerEscapeError(this.label, show, `a hard link to ${JSON.stringify(displayName(e.linkname))}${t.escape === 'absolute' ? ', an absolute path' : ', which climbs above the root'}`);
    }
    if ('invalid' in t || t.path === '') {
      throw new LayerFormatError(`${this.label}: entry ${JSON.stringify(show)} is a hard link to ${JSON.stringify(displayName(e.linkname))}, which is not a file name; the layer is corrupt`);
    }
    if (t.path === path) return; // a link to itself: nothing to do
    const parent = this.parent(dir, e);
    const [tdir, tbase] = splitPath(t.path);
    // resolved with the same policy: through a symlink that climbs out, this is an escape
    const tparent = this.root.resolve(tdir, e.name, false);
    const missing = () =>
      new LayerApplyError(
        this.label,
        show,
        `it is a hard link to ${JSON.stringify(displayName(e.linkname))}, which is not in the root filesystem (a hard link must point at a file earlier in this layer or in a lower one)`,
      );
    if (!tparent) throw missing();
    const name = cPath(base);
    const tname = cPath(tbase);
    let r = tryLinkat(tparent.fd, tname, parent.fd, name, 0);
    if (r === -E.EEXIST) {
      const a = tryStatx(parent.fd, name, AT_SYMLINK_NOFOLLOW);
      const b = tryStatx(tparent.fd, tname, AT_SYMLINK_NOFOLLOW);
      if (typeof a !== 'number' && typeof b !== 'number' && a.ino === b.ino) r = 0; // already that file
      else {
        this.removeExisting(parent, base, path);
        r = tryLinkat(tparent.fd, tname, parent.fd, name, 0);
      }
    }
    if (r === -E.ENOENT) throw missing();
    if (r === -E.EPERM) {
      const b = tryStatx(tparent.fd, tname, AT_SYMLINK_NOFOLLOW);
      if (typeof b !== 'number' && b.type === S_IFDIR) {
        throw new LayerFormatError(`${this.label}: entry ${JSON.stringify(show)} is a hard link to ${JSON.stringify(displayName(e.linkname))}, which is a directory; the layer is corrupt`);
      }
    }
    if (r < 0) throw new SysError('linkat', -r, { path: displayName(path) });
    this.mine.add(parent.key + base);
    this.dirTimes.delete(path);
    // As Docker and containerd do: the link's header metadata goes on the (shared) inode.
    // Writers give it the target's own, so this changes nothing on well-formed layers.
    const st = statx(parent.fd, name, AT_SYMLINK_NOFOLLOW);
    if (this.owners && (st.uid !== e.uid || st.gid !== e.gid)) fchownat(parent.fd, name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW);
    if (st.type !== S_IFLNK) {
      if (st.mode !== e.mode || (this.owners && (st.uid !== e.uid || st.gid !== e.gid))) fchmodat(parent.fd, name, e.mode);
      if (e.xattrs) for (const [xname, value] of e.xattrs) this.xattr(xname, () => lsetxattrAt(parent.fd, base, cPath(xname), value));
      utimensat(parent.fd, name, this.timesOf(e), AT_SYMLINK_NOFOLLOW);
    }
    this.stats.hardlinks++;
  }

  private fifo(e: TarEntry, path: string, dir: string, base: string): void {
    const parent = this.parent(dir, e);
    const name = cPath(base);
    let r = tryMknodat(parent.fd, name, S_IFIFO | 0o600);
    if (r === -E.EEXIST) {
      this.removeExisting(parent, base, path);
      r = tryMknodat(parent.fd, name, S_IFIFO | 0o600);
    }
    if (r < 0) throw new SysError('mknodat', -r, { path: displayName(path) });
    this.mine.add(parent.key + base);
    this.dirTimes.delete(path);
    if (this.owners) fchownat(parent.fd, name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW);
    fchmodat(parent.fd, name, e.mode); // the fifo just made: not a symlink
    if (e.xattrs) for (const [xname, value] of e.xattrs) this.xattr(xname, () => lsetxattrAt(parent.fd, base, cPath(xname), value));
    utimensat(parent.fd, name, this.timesOf(e), AT_SYMLINK_NOFOLLOW);
    this.stats.fifos++;
  }

  // --- whiteouts ------------------------------------------------------------------

  private whiteout(e: TarEntry, dir: string, base: string): void {
    const show = displayName(e.name);
    if (base === OPAQUE) {
      this.stats.whiteouts++;
      const d = this.root.resolve(dir, e.name, false);
      if (d) this.clearLower(d);
      return;
    }
    const victim = base.slice(WHITEOUT.length);
    if (victim.startsWith(WHITEOUT)) {
      // .wh..wh.plnk and other aufs metadata
      this.stats.skipped++;
      this.warn(`aufs metadata entry ignored`);
      return;
    }
    if (victim === '..') throw new LayerEscapeError(this.label, show, 'a whiteout of `..`');
    if (victim === '' || victim === '.' || victim.includes('/')) {
      throw new LayerFormatError(`${this.label}: entry ${JSON.stringify(show)} is a whiteout that names no entry; the layer is corrupt`);
    }
    this.stats.whiteouts++;
    const d = this.root.resolve(dir, e.name, false);
    if (!d) return; // its directory is not there: nothing to hide
    if (this.mine.has(d.key + victim)) return; // a whiteout hides lower layers only
    this.removeExisting(d, victim, dir === '' ? victim : `${dir}/${victim}`);
  }

  /** An opaque directory: removes what lower layers have in it, keeping this layer's entries (and what they need). */
  private clearLower(d: Dir): void {
    for (const child of listDir(d.fd)) {
      const name = child.name;
      const cname = cPath(name);
      const isDir = child.isDirectory();
      if (this.mine.has(d.key + name)) {
        if (isDir) this.withDir(d.fd, name, (sub) => this.clearLower(sub));
        continue;
      }
      if (!isDir) {
        unlinkat(d.fd, cname, 0);
        if (child.isSymbolicLink()) this.root.forgetAll();
        continue;
      }
      // a lower directory: empty it of lower entries; it stays only if entries of this layer are left inside
      this.withDir(d.fd, name, (sub) => this.clearLower(sub));
      const r = tryUnlinkat(d.fd, cname, AT_REMOVEDIR);
      if (r < 0 && r !== -E.ENOTEMPTY && r !== -E.EEXIST) throw new SysError('unlinkat', -r, { path: displayName(name) });
      this.root.forgetAll();
    }
  }

  private withDir(parentfd: number, name: string, fn: (d: Dir) => void): void {
    const fd = openat(parentfd, cPath(name), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    try {
      fn({ fd, key: `${statx(fd, '', AT_EMPTY_PATH).ino}/` });
    } finally {
      close(fd);
    }
  }

  // --- helpers ----------------------------------------------------------------------

  /** Removes whatever is at `name` in `parent` (a directory with all it holds); nothing there is fine. */
  private removeExisting(parent: Dir, name: string, path: string): void {
    const cname = cPath(name);
    const st = tryStatx(parent.fd, cname, AT_SYMLINK_NOFOLLOW);
    if (typeof st === 'number') {
      if (st === -E.ENOENT) return;
      throw new SysError('statx', -st, { path: displayName(path) });
    }
    if (st.type === S_IFDIR) {
      removeTree(parent.fd, name);
      this.root.forgetAll();
      this.dirTimes.delete(path);
      const prefix = `${path}/`;
      for (const p of this.dirTimes.keys()) if (p.startsWith(prefix)) this.dirTimes.delete(p);
    } else {
      unlinkat(parent.fd, cname, 0);
      if (st.type === S_IFLNK) this.root.forgetAll();
    }
  }

  private timesOf(e: TarEntry): Buffer {
    return timespecs(e.atimeSec, e.atimeNsec, e.mtimeSec, e.mtimeNsec, this.times);
  }

  private xattr(name: string, set: () => void): void {
    try {
      set();
    } catch (err) {
      if (err instanceof SysError && ['EOPNOTSUPP', 'EPERM', 'EACCES', 'ENOSPC', 'E2BIG', 'ERANGE', 'EINVAL'].includes(err.code)) {
        this.warn(`extended attribute ${JSON.stringify(displayName(name))} not set: ${err.message}`);
      } else throw err;
    }
  }

  private warn(what: string): void {
    const e = this.current;
    this.stats.warnings.push(`${this.label}: ${e ? `entry ${JSON.stringify(displayName(e.name))}: ` : ''}${what}`);
  }

  /** Directory times (and, not as root, modes) once every child is written. */
  finish(): void {
    this.current = undefined;
    this.root.release();
    // deepest first, so a parent is touched after its children
    const paths = [...this.dirTimes.keys()].reverse();
    for (const path of paths) {
      const t = this.dirTimes.get(path) as DirTimes;
      let parentfd: number;
      let name: string;
      if (path === '') {
        parentfd = this.root.dir.fd;
        name = '.';
      } else {
        const [dir, base] = splitPath(path);
        const parent = this.root.resolve(dir, path, false);
        if (!parent) continue;
        parentfd = parent.fd;
        name = base;
      }
      const cname = cPath(name);
      const st = tryStatx(parentfd, cname, AT_SYMLINK_NOFOLLOW);
      if (typeof st === 'number' || st.type !== S_IFDIR || st.ino !== t.ino) continue; // replaced since
      if (t.mode !== undefined) fchmodat(parentfd, cname, t.mode);
      utimensat(parentfd, cname, t.times, AT_SYMLINK_NOFOLLOW);
    }
    this.root.release();
  }

  /** The error to throw for `err`, naming the layer and the entry. */
  failure(err: unknown): Error {
    if (err instanceof LayerEscapeError || err instanceof LayerApplyError) return err;
    const e = this.current;
    const entry = e ? displayName(e.name) : undefined;
    if (err instanceof LayerFormatError) {
      return err.message.startsWith(`${this.label}:`) ? err : new LayerFormatError(`${this.label}: ${err.message}`, { cause: err });
    }
    const code = err instanceof SysError ? err.code : (err as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      return new LayerApplyError(this.label, entry, `no space left on the filesystem of the root filesystem (${errorMessage(err)}); free space there`, { cause: err });
    }
    return new LayerApplyError(this.label, entry, errorMessage(err), { cause: err });
  }

  /** Closes what is open (after success or failure). */
  dispose(): void {
    if (this.file) {
      close(this.file.fd);
      this.file = undefined;
    }
    this.root.closeAll();
  }
}

/** The entries of the directory open as `fd` (through /proc/self/fd: the directory itself, nothing above re-resolved). */
function listDir(fd: number): Dirent[] {
  return readdirSync(`/proc/self/fd/${fd}`, { withFileTypes: true, encoding: 'latin1' }) as unknown as Dirent[];
}

/** Removes the entry `name` of the directory open as `parentfd` and, if it is a directory, everything in it, never following a symlink. */
function removeTree(parentfd: number, name: string): void {
  const cname = cPath(name);
  const fd = openat(parentfd, cname, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  try {
    for (const child of listDir(fd)) {
      if (child.isDirectory()) removeTree(fd, child.name);
      else unlinkat(fd, cPath(child.name), 0);
    }
  } finally {
    close(fd);
  }
  unlinkat(parentfd, cname, AT_REMOVEDIR);
}

