/**
 * The restorer: recreates a backed-up directory tree inside a target directory.
 *
 * Trees are treated as hostile: names are validated when decoded (no "/", ".",
 * ".."), every entry is created with O_EXCL/O_NOFOLLOW semantics inside a
 * directory this restore created (or checked with lstat to be a real
 * directory), symlinks from the tree are created only after every file and
 * directory, and hard links only point at files this restore wrote. Metadata
 * goes on in an order that keeps it: content, owner, mode (chown clears
 * setuid), xattrs (chown clears security.capability), times last, directories
 * after their children.
 */
import { closeSync, constants as fsc, fchmodSync, fchownSync, ftruncateSync, lchownSync, linkSync, lstatSync, mkdirSync, openSync, realpathSync, readdirSync, rmSync, symlinkSync, write, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { decodeTree, isHardlink, type EntryNode, type NodeMeta, type Tree } from './tree.js';
import { lsetxattr, mknod, utimensat, SysError } from './sysfs.js';
import type { BlobReader } from './store.js';
import type { PathProblem } from './archiver.js';
import type { Digest } from '../util/digest.js';
import { CorruptDataError, TsbakError, errorMessage, isErrno } from '../errors.js';

export interface RestoreOptions {
  /** Replace entries that already exist in the target (else they are an error). */
  overwrite: boolean;
  /** Restore owners (lchown); default: when running as root. */
  owners?: boolean;
  /** Chunks fetched ahead while a file is written (default 4). */
  prefetch?: number;
  onProgress?: (progress: RestoreStats & { path: string }) => void;
}

export interface RestoreStats {
  files: number;
  dirs: number;
  others: number;
  bytes: number;
}

export interface RestoreResult {
  stats: RestoreStats;
  /** Restored, with something that could not be put back (an xattr the filesystem refuses, say). */
  warnings: PathProblem[];
}

const WRITE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
const TYPE_BITS: Record<string, number> = { fifo: fsc.S_IFIFO, chardev: fsc.S_IFCHR, blockdev: fsc.S_IFBLK, socket: fsc.S_IFSOCK };

function writeAt(fd: number, data: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number) => {
      if (offset >= data.length) return resolve();
      write(fd, data, offset, data.length - offset, position + offset, (err, n) => (err ? reject(err) : step(offset + n)));
    };
    step(0);
  });
}

const BLOCK = 4096;
const ZERO_BLOCK = new Uint8Array(BLOCK);

function isZeroBlock(data: Uint8Array, at: number): boolean {
  const piece = data.subarray(at, at + BLOCK);
  return Buffer.compare(piece, piece.length === BLOCK ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, piece.length)) === 0;
}

/** Write only the non-zero 4 KiB blocks of `data` (a sparse file's holes stay holes). Returns true when all were zero. */
async function writeSparse(fd: number, data: Uint8Array, position: number): Promise<boolean> {
  let runStart = -1;
  let any = false;
  for (let at = 0; at < data.length; at += BLOCK) {
    const zero = isZeroBlock(data, at);
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      await writeAt(fd, data.subarray(runStart, at), position + runStart);
      runStart = -1;
    }
    any ||= !zero;
  }
  if (runStart >= 0) await writeAt(fd, data.subarray(runStart), position + runStart);
  return !any;
}

class Restorer {
  readonly stats: RestoreStats = { files: 0, dirs: 0, others: 0, bytes: 0 };
  readonly warnings: PathProblem[] = [];
  /** Files written by this restore, by path from the volume root: the only valid hard link targets. */
  private readonly files = new Map<string, string>();
  private readonly symlinks: { abs: string; rel: string; node: EntryNode }[] = [];
  /** Directories created, in creation order; their metadata is set in reverse. */
  private readonly dirs: { abs: string; rel: string; meta: NodeMeta }[] = [];
  private readonly zeroChunks = new Set<Digest>();
  private readonly owners: boolean;
  private target = '';

  constructor(
    private readonly source: BlobReader,
    private readonly options: RestoreOptions,
  ) {
    this.owners = options.owners ?? process.getuid?.() === 0;
  }

  async run(tree: Digest, targetDir: string): Promise<RestoreResult> {
    mkdirSync(targetDir, { recursive: true, mode: 0o700 });
    this.target = realpathSync(targetDir);
    if (!this.options.overwrite && !isEmptyDir(this.target)) {
      throw new TsbakError(`${this.target} is not empty: restore into an empty directory, or pass --overwrite to replace what is there`);
    }
    const root = await this.load(tree, '.');
    await this.restoreDir(root, this.target, '');
    for (const s of this.symlinks) this.restoreSymlink(s.abs, s.rel, s.node);
    for (let i = this.dirs.length - 1; i >= 0; i--) {
      const d = this.dirs[i] as { abs: string; rel: string; meta: NodeMeta };
      this.applyMeta(d.abs, d.rel, d.meta, 'dir');
    }
    if (root.root) this.applyMeta(this.target, '.', root.root, 'dir');
    return { stats: this.stats, warnings: this.warnings };
  }

  private async load(digest: Digest, rel: string): Promise<Tree> {
    return decodeTree(await this.source.readBlob(digest), `tree ${digest} (directory ${rel || '.'})`);
  }

  private where(rel: string): string {
    return `${rel} in ${this.target}`;
  }

  /** Make room for a new entry at abs: nothing there, or (with overwrite) remove what is. Returns true when a real directory is already there and may be reused. */
  private clear(abs: string, rel: string, wantDir: boolean): boolean {
    let st;
    try {
      st = lstatSync(abs);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
    if (wantDir && st.isDirectory()) {
      if (this.options.overwrite) return true;
    }
    if (!this.options.overwrite) {
      throw new TsbakError(`${this.where(rel)} already exists: restore into an empty directory, or pass --overwrite to replace it`);
    }
    rmSync(abs, { recursive: true, force: true }); // never follows symlinks
    return false;
  }

  private async restoreDir(tree: Tree, abs: string, rel: string): Promise<void> {
    for (const node of tree.nodes) {
      const childAbs = join(abs, node.name);
      const childRel = rel ? `${rel}/${node.name}` : node.name;
      try {
        if (isHardlink(node)) {
          const first = this.files.get(node.hardlink);
          if (first === undefined) throw new CorruptDataError(`hard link ${childRel} points at ${node.hardlink}, which is not a file restored earlier in this tree; refusing it`);
          this.clear(childAbs, childRel, false);
          linkSync(first, childAbs);
          this.stats.files++;
          continue;
        }
        switch (node.type) {
          case 'dir': {
            const reuse = this.clear(childAbs, childRel, true);
            if (!reuse) mkdirSync(childAbs, { mode: 0o700 });
            const st = lstatSync(childAbs);
            if (!st.isDirectory() || st.isSymbolicLink()) throw new TsbakError(`${this.where(childRel)} is not a directory after it was created (a concurrent change in the target?)`);
            this.dirs.push({ abs: childAbs, rel: childRel, meta: node });
            this.stats.dirs++;
            await this.restoreDir(await this.load(node.subtree as Digest, childRel), childAbs, childRel);
            break;
          }
          case 'file':
            this.clear(childAbs, childRel, false);
            await this.restoreFile(childAbs, childRel, node);
            this.files.set(childRel, childAbs);
            this.stats.files++;
            break;
          case 'symlink':
            this.clear(childAbs, childRel, false);
            this.symlinks.push({ abs: childAbs, rel: childRel, node });
            this.stats.others++;
            break;
          default: {
            this.clear(childAbs, childRel, false);
            const bits = TYPE_BITS[node.type] as number;
            mknod(childAbs, bits | (node.mode & 0o777), node.rdev?.major ?? 0, node.rdev?.minor ?? 0);
            this.applyMeta(childAbs, childRel, node, node.type);
            this.stats.others++;
          }
        }
      } catch (err) {
        throw this.failure(err, childRel);
      }
      this.options.onProgress?.({ ...this.stats, path: childRel });
    }
  }

  private failure(err: unknown, rel: string): Error {
    if (isErrno(err, 'ENOSPC') || isErrno(err, 'EDQUOT') || (err instanceof SysError && (err.code === 'ENOSPC' || err.code === 'EDQUOT'))) {
      return new TsbakError(`no space left while restoring ${rel} into ${this.target}: free space on that filesystem, or restore elsewhere`, { cause: err });
    }
    if (err instanceof TsbakError) return err;
    return new TsbakError(`cannot restore ${this.where(rel)}: ${errorMessage(err)}`, { cause: err });
  }

  private async restoreFile(abs: string, rel: string, node: EntryNode): Promise<void> {
    const fd = openSync(abs, WRITE_FLAGS, 0o600);
    try {
      const content = node.content ?? [];
      const ahead = Math.max(1, this.options.prefetch ?? 4);
      // Fetch (read, decompress, verify) a few chunks ahead of the one being written.
      const queue: Promise<Buffer | null>[] = [];
      let next = 0;
      const pump = () => {
        while (next < content.length && queue.length < ahead) {
          const d = content[next++] as Digest;
          const p = node.sparse && this.zeroChunks.has(d) ? Promise.resolve(null) : this.source.readBlob(d);
          p.catch(() => {}); // reported when awaited
          queue.push(p);
        }
      };
      pump();
      let pos = 0;
      for (let i = 0; i < content.length; i++) {
        const data = await (queue.shift() as Promise<Buffer | null>);
        pump();
        if (data === null) {
          pos += this.zeroLength(content[i] as Digest);
          continue;
        }
        if (!node.sparse) await writeAt(fd, data, pos);
        else if (await writeSparse(fd, data, pos)) {
          // An all-zero chunk: remembered, so its next occurrences are not even read.
          this.zeroChunks.add(content[i] as Digest);
          this.zeroLengths.set(content[i] as Digest, data.length);
        }
        pos += data.length;
      }
      if (pos !== node.size) {
        throw new CorruptDataError(`${rel}: its chunks add up to ${pos} bytes, but the tree says ${node.size} (corrupted tree?)`);
      }
      ftruncateSync(fd, pos); // the holes at the end of a sparse file
      this.stats.bytes += pos;
      if (this.owners) fchownSync(fd, node.uid, node.gid);
      fchmodSync(fd, node.mode);
    } finally {
      closeSync(fd);
    }
    this.applyXattrs(abs, rel, node);
    this.applyTimes(abs, rel, node, false);
  }

  private readonly zeroLengths = new Map<Digest, number>();

  private zeroLength(d: Digest): number {
    return this.zeroLengths.get(d) as number;
  }

  private restoreSymlink(abs: string, rel: string, node: EntryNode): void {
    try {
      symlinkSync(node.target as string, abs);
      if (this.owners) lchownSync(abs, node.uid, node.gid);
      this.applyXattrs(abs, rel, node);
      this.applyTimes(abs, rel, node, true);
    } catch (err) {
      throw this.failure(err, rel);
    }
  }

  /** Owner, mode, xattrs and times of a directory or special file (by path; its parents are checked directories). */
  private applyMeta(abs: string, rel: string, meta: NodeMeta, type: string): void {
    try {
      if (this.owners) lchownSync(abs, meta.uid, meta.gid);
      chmodSync(abs, meta.mode);
      this.applyXattrs(abs, rel, meta);
      this.applyTimes(abs, rel, meta, type === 'symlink');
    } catch (err) {
      throw this.failure(err, rel);
    }
  }

  private applyXattrs(abs: string, rel: string, meta: NodeMeta): void {
    for (const [name, value] of Object.entries(meta.xattrs ?? {})) {
      try {
        lsetxattr(abs, name, Buffer.from(value, 'base64'));
      } catch (err) {
        if (err instanceof SysError && (err.code === 'ENOSPC' || err.code === 'EDQUOT')) throw err;
        this.warnings.push({ path: rel, message: `extended attribute ${name} not restored: ${errorMessage(err)}` });
      }
    }
  }

  private applyTimes(abs: string, rel: string, meta: NodeMeta, symlink: boolean): void {
    const mtime = BigInt(meta.mtimeNs);
    const atime = meta.atimeNs !== undefined ? BigInt(meta.atimeNs) : mtime;
    try {
      utimensat(abs, atime, mtime, symlink);
    } catch (err) {
      this.warnings.push({ path: rel, message: `times not restored: ${errorMessage(err)}` });
    }
  }
}

/**
 * Restore the tree `tree` (a volume's root tree) into `targetDir`, creating it
 * when missing. Existing entries are an error unless `overwrite`. Every chunk
 * is verified against its sha256 as it is read.
 */
export async function restoreTree(tree: Digest, source: BlobReader, targetDir: string, options: RestoreOptions): Promise<RestoreResult> {
  return new Restorer(source, options).run(tree, targetDir);
}

/** True when `dir` is missing or empty (for callers that want to refuse a non-empty target up front). */
export function isEmptyDir(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return true;
    throw err;
  }
}

