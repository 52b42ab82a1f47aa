/**
 * The archiver: walks a directory (never following symlinks, never crossing a
 * mount point), chunks and hashes file content on the main thread, hands new
 * chunks to the store (compressed on worker threads, packed), and writes one
 * tree blob per directory. With a parent tree, a file whose size, mtime, ctime
 * and inode are unchanged is not read again: its chunk list is reused.
 */
import { closeSync, constants as fsc, fstatSync, lstatSync, openSync, read, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Chunker, CHUNK_MAX } from './chunker.js';
import { compareNames, decodeTree, encodeTree, isHardlink, type EntryNode, type NodeMeta, type NodeType, type Tree, type TreeNode } from './tree.js';
import { SysError, devMajor, devMinor, errnoName, lstatxAt, readXattrs, seekData, seekHole, statxInt64, STATX_OFFSET, STATX_SIZE } from './sysfs.js';
import type { BlobReader } from './store.js';
import type { Digest } from '../util/digest.js';
import { TsbakError, errorMessage, isErrno } from '../errors.js';

/** What the archiver writes through (VolumeStore implements it). */
export interface ChunkWriter extends BlobReader {
  has(digest: Digest): boolean;
  /** `data` may be reused by the caller once this resolves. */
  putChunk(digest: Digest, data: Uint8Array): Promise<void>;
  putTree(doc: Buffer): Promise<Digest>;
  /** Make everything written durable and indexed. */
  flush(): Promise<void>;
  readonly stats: { newChunks: number; newBytes: number; newTrees: number };
}

/** A path (relative to the volume root, "." for the root) and what went wrong with it. */
export interface PathProblem {
  path: string;
  message: string;
}

export interface BackupStats {
  files: number;
  dirs: number;
  /** Symlinks, fifos, sockets and device nodes. */
  others: number;
  /** Content bytes of all files (holes included). */
  bytes: number;
  /** Bytes actually read from files (unchanged files and holes are not read). */
  readBytes: number;
  newChunks: number;
  /** Stored (compressed) bytes of new chunks and trees. */
  newBytes: number;
  newTrees: number;
  /** Files whose chunk list was taken from the parent tree without reading them. */
  reusedFiles: number;
}

export interface BackupOptions {
  /** The tree of a previous backup of the same directory: unchanged files are not read again. */
  parent?: Digest;
  /** Called after each file and directory. */
  onProgress?: (progress: BackupStats & { path: string }) => void;
  /**
   * Compare only size and mtime with the parent, not inode and ctime: for a
   * copy (a reflink clone of the volume, a restored directory), whose inodes
   * and ctimes are all new though the content is not. xattrs are then read again.
   */
  ignoreInode?: boolean;
  /**
   * Filled with what this pass stored of each entry, so that a frozen pass
   * after it (`scanFrozen`) can tell from an lstat alone what changed since.
   */
  record?: Fingerprints;
}

/** What a pass saw of an entry it stored: a later lstat with the same values means the stored node is still true. */
export interface Fingerprint {
  type: NodeType;
  /** As the node records it (the bytes read, for a file). */
  size: number;
  /** mtime and ctime as struct stat holds them: whole seconds (floor) and nanoseconds. */
  mSec: number;
  mNsec: number;
  cSec: number;
  cNsec: number;
  /** The inode number's high and low 32 bits. */
  inoHi: number;
  inoLo: number;
}

const NS_PER_S = 1_000_000_000n;

/** A nanosecond time as [seconds (floor), nanoseconds], as struct stat and struct statx hold it. */
function splitNs(ns: bigint): [number, number] {
  let sec = ns / NS_PER_S;
  let nsec = ns % NS_PER_S;
  if (nsec < 0n) {
    nsec += NS_PER_S;
    sec -= 1n;
  }
  return [Number(sec), Number(nsec)];
}

/** Per directory (relative path, "" for the root), the fingerprints of its entries by name; the root's own apart. */
export class Fingerprints {
  root: Fingerprint | undefined;
  private readonly dirs = new Map<string, Map<string, Fingerprint>>();

  static of(st: BigIntStats, type: NodeType, size: number): Fingerprint {
    const [mSec, mNsec] = splitNs(st.mtimeNs);
    const [cSec, cNsec] = splitNs(st.ctimeNs);
    return { type, size, mSec, mNsec, cSec, cNsec, inoHi: Number(st.ino >> 32n), inoLo: Number(st.ino & 0xffff_ffffn) };
  }

  set(dir: string, name: string, fp: Fingerprint): void {
    let entries = this.dirs.get(dir);
    if (!entries) this.dirs.set(dir, (entries = new Map()));
    entries.set(name, fp);
  }

  in(dir: string): Map<string, Fingerprint> | undefined {
    return this.dirs.get(dir);
  }
}

export interface BackupResult {
  /** The root tree (with the volume directory's own metadata in `root`). */
  tree: Digest;
  stats: BackupStats;
  /** Paths that could not be backed up (unreadable files or directories): the caller decides. */
  errors: PathProblem[];
  /** Backed up, but worth telling: mount points not crossed, files that changed while read, xattrs not readable. */
  warnings: PathProblem[];
}

const O_NOATIME = fsc.O_NOATIME ?? 0;
const READ_FLAGS = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;
const ZEROS = new Uint8Array(CHUNK_MAX);

export function nodeType(st: BigIntStats): NodeType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isSocket()) return 'socket';
  return undefined;
}

/** The node type of a st_mode / stx_mode value. */
function typeOfMode(mode: number): NodeType | undefined {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o010000:
      return 'fifo';
    case 0o020000:
      return 'chardev';
    case 0o060000:
      return 'blockdev';
    case 0o140000:
      return 'socket';
    default:
      return undefined;
  }
}

/** The metadata of an lstat result (size 0 except for files and symlinks). */
export function metaOf(st: BigIntStats, type: NodeType | undefined): NodeMeta {
  return {
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeNs: st.mtimeNs.toString(),
    atimeNs: st.atimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    inode: st.ino.toString(),
    size: type === 'file' || type === 'symlink' ? Number(st.size) : 0,
  };
}

/** True when a node from the parent tree describes the same, unmodified inode. */
function unchanged(prev: TreeNode | undefined, type: NodeType, meta: NodeMeta, ignoreInode = false): prev is EntryNode {
  return (
    prev !== undefined &&
    !isHardlink(prev) &&
    prev.type === type &&
    prev.size === meta.size &&
    prev.mtimeNs === meta.mtimeNs &&
    (ignoreInode || (prev.ctimeNs === meta.ctimeNs && prev.inode === meta.inode))
  );
}

function readAt(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

function problem(err: unknown): string {
  if (isErrno(err, 'EACCES') || isErrno(err, 'EPERM')) return `permission denied (${errorMessage(err)}): run as root or fix the permissions`;
  return errorMessage(err);
}

class Archiver {
  readonly errors: PathProblem[] = [];
  readonly warnings: PathProblem[] = [];
  readonly stats: BackupStats = { files: 0, dirs: 0, others: 0, bytes: 0, readBytes: 0, newChunks: 0, newBytes: 0, newTrees: 0, reusedFiles: 0 };
  private readonly hardlinks = new Map<string, string>();
  private readonly chunker = new Chunker();
  private readonly zeroDigests = new Map<number, Digest>();
  private emptyTree: Digest | undefined;
  private rootDev = 0n;

  constructor(
    private readonly root: string,
    private readonly store: ChunkWriter,
    private readonly options: BackupOptions,
  ) {}

  async run(): Promise<BackupResult> {
    const before = { ...this.store.stats };
    let st: BigIntStats;
    try {
      st = lstatSync(this.root, { bigint: true });
    } catch (err) {
      throw new TsbakError(`cannot back up ${this.root}: ${problem(err)}`);
    }
    if (!st.isDirectory()) throw new TsbakError(`cannot back up ${this.root}: not a directory`);
    this.rootDev = st.dev;
    const parent = this.options.parent ? await this.loadTree(this.options.parent, '.') : undefined;
    const rootMeta = metaOf(st, 'dir');
    const prevRoot = parent?.root;
    const sameRoot = prevRoot && prevRoot.ctimeNs === rootMeta.ctimeNs && prevRoot.inode === rootMeta.inode;
    const xattrs = sameRoot ? prevRoot.xattrs : this.xattrs(this.root, '.');
    if (xattrs) rootMeta.xattrs = xattrs;
    if (this.options.record) this.options.record.root = Fingerprints.of(st, 'dir', 0);
    const nodes = await this.dirNodes(this.root, '', parent);
    const tree = await this.store.putTree(encodeTree(nodes, rootMeta));
    await this.store.flush();
    this.stats.newChunks = this.store.stats.newChunks - before.newChunks;
    this.stats.newTrees = this.store.stats.newTrees - before.newTrees;
    this.stats.newBytes = this.store.stats.newBytes - before.newBytes;
    return { tree, stats: this.stats, errors: this.errors, warnings: this.warnings };
  }

  /** @internal also used by FrozenScan */
  async loadTree(digest: Digest, path: string): Promise<Tree | undefined> {
    try {
      return decodeTree(await this.store.readBlob(digest), `tree ${digest}`);
    } catch (err) {
      this.warnings.push({ path, message: `the parent backup's tree cannot be read, so this directory is read in full: ${errorMessage(err)}` });
      return undefined;
    }
  }

  /** @internal also used by FrozenScan */
  xattrs(abs: string, rel: string): Record<string, string> | undefined {
    const { xattrs, problems } = readXattrs(abs);
    for (const message of problems) this.warnings.push({ path: rel, message: `extended attribute not backed up: ${message}` });
    return xattrs;
  }

  private async dirNodes(abs: string, rel: string, parent: Tree | undefined): Promise<TreeNode[]> {
    const names: string[] = [];
    try {
      for (const raw of readdirSync(abs, { encoding: 'buffer' })) {
        const name = raw.toString('utf8');
        if (Buffer.from(name, 'utf8').equals(raw)) names.push(name);
        else {
          const shown = rel ? `${rel}/${name}` : name;
          this.errors.push({ path: shown, message: `not backed up: its name is not valid UTF-8 (bytes ${raw.toString('hex')}); rename it` });
        }
      }
    } catch (err) {
      this.errors.push({ path: rel || '.', message: `directory not read: ${problem(err)}` });
      return [];
    }
    const previous = new Map<string, TreeNode>();
    for (const n of parent?.nodes ?? []) previous.set(n.name, n);
    const nodes: TreeNode[] = [];
    for (const name of names.sort(compareNames)) {
      const node = await this.entry(join(abs, name), rel ? `${rel}/${name}` : name, name, previous.get(name));
      if (node) nodes.push(node);
    }
    return nodes;
  }

  private async entry(abs: string, rel: string, name: string, prev: TreeNode | undefined): Promise<TreeNode | undefined> {
    let st: BigIntStats;
    try {
      st = lstatSync(abs, { bigint: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) this.warnings.push({ path: rel, message: 'removed during the backup' });
      else this.errors.push({ path: rel, message: problem(err) });
      return undefined;
    }
    const type = nodeType(st);
    if (!type) {
      this.errors.push({ path: rel, message: `unknown file type (mode ${st.mode.toString(8)})` });
      return undefined;
    }
    const linkKey = type === 'file' && st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined;
    if (linkKey) {
      const key = linkKey;
      const first = this.hardlinks.get(key);
      if (first !== undefined) {
        this.stats.files++;
        return { name, type: 'file', hardlink: first };
      }
      this.hardlinks.set(key, rel);
    }
    const meta = metaOf(st, type);
    const same = unchanged(prev, type, meta, this.options.ignoreInode);
    // An xattr change changes the ctime: an unchanged node's xattrs are still valid (when the ctime was compared).
    const xattrs = same && !this.options.ignoreInode ? prev.xattrs : this.xattrs(abs, rel);
    const node: EntryNode = { name, type, ...meta };
    if (xattrs) node.xattrs = xattrs;
    switch (type) {
      case 'dir': {
        this.stats.dirs++;
        if (st.dev !== this.rootDev) {
          this.warnings.push({ path: rel, message: 'a mount point: its content is on another filesystem and is not backed up' });
          node.subtree = await this.empty();
          break;
        }
        const parentTree = prev && !isHardlink(prev) && prev.type === 'dir' && prev.subtree ? await this.loadTree(prev.subtree, rel) : undefined;
        node.subtree = await this.store.putTree(encodeTree(await this.dirNodes(abs, rel, parentTree)));
        break;
      }
      case 'file': {
        this.stats.files++;
        if (same && prev.content && prev.content.every((d) => this.store.has(d))) {
          node.content = prev.content;
          if (prev.sparse) node.sparse = true;
          this.stats.reusedFiles++;
          this.stats.bytes += meta.size;
          break;
        }
        const read = await this.readFile(abs, rel, st);
        if (!read) {
          if (linkKey) this.hardlinks.delete(linkKey); // a later link stores the content instead
          return undefined;
        }
        node.content = read.content;
        node.size = read.size;
        if (read.sparse) node.sparse = true;
        break;
      }
      case 'symlink':
        this.stats.others++;
        try {
          node.target = readlinkSync(abs);
        } catch (err) {
          this.errors.push({ path: rel, message: `symlink not read: ${problem(err)}` });
          return undefined;
        }
        node.size = Buffer.byteLength(node.target);
        break;
      case 'chardev':
      case 'blockdev':
        this.stats.others++;
        node.rdev = { major: devMajor(st.rdev), minor: devMinor(st.rdev) };
        break;
      default:
        this.stats.others++;
    }
    this.options.record?.set(rel.length > name.length ? rel.slice(0, rel.length - name.length - 1) : '', name, Fingerprints.of(st, type, node.size));
    this.options.onProgress?.({ ...this.stats, path: rel });
    return node;
  }

  /** Store a chunk; a failure here is the repository's, and ends the backup. */
  private async put(digest: Digest, data: Uint8Array): Promise<void> {
    try {
      await this.store.putChunk(digest, data);
    } catch (err) {
      throw err instanceof TsbakError ? err : new TsbakError(`writing to the repository failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** @internal also used by FrozenScan */
  async empty(): Promise<Digest> {
    return (this.emptyTree ??= await this.store.putTree(encodeTree([])));
  }

  private zeroDigest(length: number): Digest {
    let d = this.zeroDigests.get(length);
    if (!d) {
      d = `sha256:${createHash('sha256').update(ZEROS.subarray(0, length)).digest('hex')}`;
      this.zeroDigests.set(length, d);
    }
    return d;
  }

  /** @internal also used by FrozenScan */
  async readFile(abs: string, rel: string, st: BigIntStats): Promise<{ content: Digest[]; size: number; sparse: boolean } | undefined> {
    let fd: number;
    try {
      fd = openSync(abs, READ_FLAGS | O_NOATIME);
    } catch (err) {
      try {
        if (!isErrno(err, 'EPERM') || O_NOATIME === 0) throw err;
        fd = openSync(abs, READ_FLAGS); // O_NOATIME needs ownership or CAP_FOWNER
      } catch (err2) {
        this.errors.push({ path: rel, message: `file not read: ${problem(err2)}` });
        return undefined;
      }
    }
    try {
      const fst = fstatSync(fd, { bigint: true });
      if (!fst.isFile() || fst.ino !== st.ino || fst.dev !== st.dev) {
        this.errors.push({ path: rel, message: 'replaced by another file during the backup; not backed up' });
        return undefined;
      }
      const result = await this.chunkFile(fd, fst);
      const after = fstatSync(fd, { bigint: true });
      if (result.size !== Number(fst.size)) {
        this.warnings.push({ path: rel, message: `changed size while it was read (${fst.size} bytes at the start, ${result.size} read); the bytes read were backed up` });
      } else if (after.mtimeNs !== fst.mtimeNs || after.ctimeNs !== fst.ctimeNs) {
        this.warnings.push({ path: rel, message: 'modified while it was read; the copy may mix old and new content (freeze the container for a consistent copy)' });
      }
      return result;
    } catch (err) {
      if (err instanceof TsbakError && !(err instanceof SysError)) throw err; // repository failures end the backup
      this.errors.push({ path: rel, message: `file not read: ${problem(err)}` });
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** Read, chunk and store one open file; returns the chunk list and the bytes consumed. */
  private async chunkFile(fd: number, st: BigIntStats): Promise<{ content: Digest[]; size: number; sparse: boolean }> {
    const chunker = this.chunker;
    const buf = chunker.buffer;
    const cap = chunker.capacity;
    const size = Number(st.size);
    const sparse = st.blocks * 512n < st.size;
    const content: Digest[] = [];
    let start = 0;
    let end = 0;
    let pos = 0;
    let eof = false;
    // Sparse files: [pos, holeUntil) is known to be a hole, [pos, dataUntil) data.
    let holeUntil = 0;
    let dataUntil = 0;
    let seekable = sparse;
    const fill = async (at: number, room: number): Promise<number> => {
      if (seekable && pos < size && pos >= holeUntil && pos >= dataUntil) {
        try {
          const data = seekData(fd, BigInt(pos));
          if (data === null) holeUntil = size;
          else if (Number(data) > pos) holeUntil = Math.min(Number(data), size);
          else dataUntil = Number(seekHole(fd, BigInt(pos)));
        } catch (err) {
          if (!(err instanceof SysError)) throw err;
          seekable = false; // no SEEK_DATA here: read the holes as zeros
        }
      }
      if (seekable && pos < holeUntil) {
        const n = Math.min(room, holeUntil - pos);
        buf.fill(0, at, at + n);
        return n;
      }
      const n = await readAt(fd, buf, at, seekable && pos < dataUntil ? Math.min(room, dataUntil - pos) : room, pos);
      this.stats.readBytes += n;
      return n;
    };
    for (;;) {
      if (!eof) {
        if (start > 0 && cap - end < CHUNK_MAX) {
          end = chunker.compact(start, end);
          start = 0;
        }
        const n = await fill(end, cap - end);
        if (n === 0) eof = true;
        end += n;
        pos += n;
      }
      while (start < end) {
        const cut = chunker.cut(start, end, eof);
        if (cut < 0) break;
        const data = buf.subarray(start, cut);
        const digest: Digest =
          sparse && Buffer.compare(data, ZEROS.subarray(0, data.length)) === 0
            ? this.zeroDigest(data.length)
            : `sha256:${createHash('sha256').update(data).digest('hex')}`;
        content.push(digest);
        if (!this.store.has(digest)) await this.put(digest, data);
        start = cut;
      }
      if (eof) break;
    }
    this.stats.bytes += pos;
    return { content, size: pos, sparse };
  }
}

/**
 * Back up the directory `rootDir` into the store: returns the root tree's
 * digest (durable and indexed when this resolves), statistics, and per-path
 * errors and warnings. With `parent`, unchanged files are not read.
 */
export async function backupTree(rootDir: string, store: ChunkWriter, options: BackupOptions = {}): Promise<BackupResult> {
  return new Archiver(rootDir, store, options).run();
}

export interface DiffEntry {
  path: string;
  change: 'added' | 'removed' | 'modified';
}

/**
 * What changed in `rootDir` since the backup whose root tree is `tree`: paths
 * whose type, size, mtime, ctime or inode differ, and added or removed ones.
 * Stats only, never reads file content (for the freeze window).
 */
export async function diffAgainst(rootDir: string, tree: Digest, store: BlobReader, options: { ignoreInode?: boolean } = {}): Promise<DiffEntry[]> {
  const out: DiffEntry[] = [];
  const load = async (digest: Digest): Promise<Tree> => decodeTree(await store.readBlob(digest), `tree ${digest}`);
  const walk = async (abs: string, rel: string, t: Tree): Promise<void> => {
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch {
      out.push({ path: rel || '.', change: 'modified' });
      return;
    }
    const previous = new Map<string, TreeNode>();
    for (const n of t.nodes) previous.set(n.name, n);
    for (const name of names.sort(compareNames)) {
      const path = rel ? `${rel}/${name}` : name;
      const prev = previous.get(name);
      previous.delete(name);
      let st: BigIntStats;
      try {
        st = lstatSync(join(abs, name), { bigint: true });
      } catch {
        if (prev) out.push({ path, change: 'removed' });
        continue;
      }
      if (!prev) {
        out.push({ path, change: 'added' });
        continue;
      }
      const type = nodeType(st);
      if (isHardlink(prev)) {
        if (type !== 'file') out.push({ path, change: 'modified' });
        continue;
      }
      if (!type) continue;
      const meta = metaOf(st, type);
      if (!unchanged(prev, type, meta, options.ignoreInode)) out.push({ path, change: 'modified' });
      if (type === 'dir' && prev.type === 'dir' && prev.subtree) await walk(join(abs, name), path, await load(prev.subtree));
    }
    for (const name of previous.keys()) out.push({ path: rel ? `${rel}/${name}` : name, change: 'removed' });
  };
  await walk(rootDir, '', await load(tree));
  return out;
}

/** An entry as the frozen pass saw it: enough to build its node after the thaw. */
interface FrozenEntry {
  name: string;
  type: NodeType;
  /** lstat equals the pre-copy's fingerprint: the pre-copy's node holds, with this atime. */
  same: boolean;
  /** An unchanged entry's atime, as statx gave it. */
  aSec?: number;
  aNsec?: number;
  /** A changed entry's lstat. */
  st?: BigIntStats;
  xattrs?: Record<string, string>;
  /** A changed file's content, read under the freeze. */
  read?: { content: Digest[]; size: number; sparse: boolean };
  target?: string;
  dir?: FrozenDir;
  /** On another filesystem: not descended. */
  mount?: true;
  /** Files with more than one link: `dev:ino`, and the paths to reach them. */
  linkKey?: string;
  abs?: string;
  rel?: string;
  /** Left out (a hard link none of whose paths could be read). */
  dropped?: true;
}

interface FrozenDir {
  entries: FrozenEntry[];
}

/** How the content of a hard-linked inode is known: read under the freeze, or the pre-copy's node at a path. */
type LinkContent = { read: { content: Digest[]; size: number; sparse: boolean } } | { precopyPath: string } | { unreadable: true };

/**
 * The frozen step of a pre-copy backup, in two halves. `scanFrozen` runs
 * while the containers are frozen and does only what must see the frozen
 * state: an lstat of every entry, compared with the pre-copy's fingerprint,
 * and for the entries that changed since, their xattrs, symlink targets and
 * file contents (chunked, hashed and handed to the store, so the bytes are
 * copied before the thaw). `finish`, after the thaw, builds, encodes and
 * stores the trees from what the scan recorded and the pre-copy's trees, then
 * flushes. The snapshot therefore records exactly the frozen state: an
 * unchanged entry's node is the pre-copy's, whose content was read before its
 * fingerprint was taken, and a changed one's content was read while frozen.
 */
export async function scanFrozen(
  rootDir: string,
  store: ChunkWriter,
  precopy: { result: BackupResult; seen: Fingerprints },
): Promise<{ finish(): Promise<BackupResult> }> {
  const scan = new FrozenScan(rootDir, store, precopy.result, precopy.seen);
  await scan.scan();
  return { finish: () => scan.finish() };
}

class FrozenScan {
  private readonly archiver: Archiver;
  private readonly before: ChunkWriter['stats'];
  private rootSt: BigIntStats | undefined;
  private rootXattrs: Record<string, string> | undefined;
  private rootSame = false;
  private rootDir: FrozenDir | undefined;
  private rootDevMajor = 0;
  private rootDevMinor = 0;
  /** One statx result at a time. */
  private readonly sx = Buffer.alloc(STATX_SIZE);
  private readonly links = new Map<string, FrozenEntry[]>();
  private readonly linkContent = new Map<string, LinkContent>();

  constructor(
    private readonly root: string,
    private readonly store: ChunkWriter,
    private readonly precopy: BackupResult,
    private seen: Fingerprints,
  ) {
    this.archiver = new Archiver(root, store, {});
    this.before = { ...store.stats };
  }

  /** Under the freeze: lstat everything, read what changed. */
  async scan(): Promise<void> {
    let st: BigIntStats;
    try {
      st = lstatSync(this.root, { bigint: true });
    } catch (err) {
      throw new TsbakError(`cannot back up ${this.root}: ${problem(err)}`);
    }
    if (!st.isDirectory()) throw new TsbakError(`cannot back up ${this.root}: not a directory`);
    this.rootSt = st;
    this.rootDevMajor = devMajor(st.dev);
    this.rootDevMinor = devMinor(st.dev);
    const fp = this.seen.root;
    const now = Fingerprints.of(st, 'dir', 0);
    this.rootSame = fp !== undefined && fp.cSec === now.cSec && fp.cNsec === now.cNsec && fp.inoHi === now.inoHi && fp.inoLo === now.inoLo;
    if (!this.rootSame) this.rootXattrs = this.archiver.xattrs(this.root, '.');
    this.rootDir = await this.scanDir(this.root, '');
    await this.readLinks();
    // Not needed after the scan: let the pre-copy's fingerprints go before the trees are built (100,000 entries: tens of MiB).
    this.seen = new Fingerprints();
  }

  private names(abs: string, rel: string): string[] {
    const errors = this.archiver.errors;
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (err) {
      errors.push({ path: rel || '.', message: `directory not read: ${problem(err)}` });
      return [];
    }
    // A name that is not valid UTF-8 decodes with U+FFFD: only then are the raw bytes looked at.
    if (!names.some((n) => n.includes('\uFFFD'))) return names;
    names = [];
    try {
      for (const raw of readdirSync(abs, { encoding: 'buffer' })) {
        const name = raw.toString('utf8');
        if (Buffer.from(name, 'utf8').equals(raw)) names.push(name);
        else errors.push({ path: rel ? `${rel}/${name}` : name, message: `not backed up: its name is not valid UTF-8 (bytes ${raw.toString('hex')}); rename it` });
      }
    } catch (err) {
      errors.push({ path: rel || '.', message: `directory not read: ${problem(err)}` });
      return [];
    }
    return names;
  }

  /**
   * One directory, under the freeze: a statx of each entry by name in the
   * open directory (no path walk, nothing allocated), compared field by
   * field with the pre-copy's fingerprint. Only a changed entry gets a full
   * lstat, its xattrs and (files) its content read.
   */
  private async scanDir(abs: string, rel: string): Promise<FrozenDir> {
    const entries: FrozenEntry[] = [];
    const { errors, warnings } = this.archiver;
    let fd: number;
    try {
      fd = openSync(abs, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
    } catch (err) {
      errors.push({ path: rel || '.', message: `directory not read: ${problem(err)}` });
      return { entries };
    }
    try {
      const fps = this.seen.in(rel);
      const sx = this.sx;
      for (const name of this.names(abs, rel)) {
        const path = rel ? `${rel}/${name}` : name;
        const errno = lstatxAt(fd, name, sx);
        if (errno !== 0) {
          if (errnoName(errno) === 'ENOENT') warnings.push({ path, message: 'removed during the backup' });
          else errors.push({ path, message: problem(new SysError('statx', errno, { path })) });
          continue;
        }
        const type = typeOfMode(sx.readUInt16LE(STATX_OFFSET.mode));
        if (!type) {
          errors.push({ path, message: `unknown file type (mode ${sx.readUInt16LE(STATX_OFFSET.mode).toString(8)})` });
          continue;
        }
        const fp = fps?.get(name);
        const same =
          fp !== undefined &&
          fp.type === type &&
          fp.mNsec === sx.readUInt32LE(STATX_OFFSET.mtime + 8) &&
          fp.mSec === statxInt64(sx, STATX_OFFSET.mtime) &&
          fp.cNsec === sx.readUInt32LE(STATX_OFFSET.ctime + 8) &&
          fp.cSec === statxInt64(sx, STATX_OFFSET.ctime) &&
          fp.inoLo === sx.readUInt32LE(STATX_OFFSET.ino) &&
          fp.inoHi === sx.readUInt32LE(STATX_OFFSET.ino + 4) &&
          fp.size === (type === 'file' || type === 'symlink' ? statxInt64(sx, STATX_OFFSET.size) : 0);
        const full = `${abs}/${name}`;
        let entry: FrozenEntry;
        if (same) entry = { name, type, same, aSec: statxInt64(sx, STATX_OFFSET.atime), aNsec: sx.readUInt32LE(STATX_OFFSET.atime + 8) };
        else {
          // A changed entry: the full lstat (nothing moves while frozen, so it agrees with the statx).
          let st: BigIntStats | undefined;
          try {
            st = lstatSync(full, { bigint: true, throwIfNoEntry: false });
          } catch (err) {
            errors.push({ path, message: problem(err) });
            continue;
          }
          if (!st || nodeType(st) !== type) {
            warnings.push({ path, message: 'removed during the backup' });
            continue;
          }
          entry = { name, type, same, st };
          const xattrs = this.archiver.xattrs(full, path);
          if (xattrs) entry.xattrs = xattrs;
        }
        switch (type) {
          case 'dir':
            if (sx.readUInt32LE(STATX_OFFSET.devMajor) !== this.rootDevMajor || sx.readUInt32LE(STATX_OFFSET.devMinor) !== this.rootDevMinor) {
              warnings.push({ path, message: 'a mount point: its content is on another filesystem and is not backed up' });
              entry.mount = true;
            } else entry.dir = await this.scanDir(full, path);
            break;
          case 'file':
            if (sx.readUInt32LE(STATX_OFFSET.nlink) > 1) {
              entry.linkKey = `${sx.readUInt32LE(STATX_OFFSET.devMajor)}:${sx.readUInt32LE(STATX_OFFSET.devMinor)}:${sx.readUInt32LE(STATX_OFFSET.ino + 4)}:${sx.readUInt32LE(STATX_OFFSET.ino)}`;
              entry.abs = full;
              entry.rel = path;
              let paths = this.links.get(entry.linkKey);
              if (!paths) this.links.set(entry.linkKey, (paths = []));
              paths.push(entry);
            } else if (!same) {
              const read = await this.archiver.readFile(full, path, entry.st as BigIntStats);
              if (!read) continue;
              entry.read = read;
            }
            break;
          case 'symlink':
            if (!same) {
              try {
                entry.target = readlinkSync(full);
              } catch (err) {
                errors.push({ path, message: `symlink not read: ${problem(err)}` });
                continue;
              }
            }
            break;
          default:
        }
        entries.push(entry);
      }
    } finally {
      closeSync(fd);
    }
    return { entries };
  }

  /** Hard-linked files: the content of each inode once, from the pre-copy where one of its paths is unchanged, else read now. */
  private async readLinks(): Promise<void> {
    for (const [key, entries] of this.links) {
      const unchanged = entries.find((e) => e.same);
      if (unchanged) {
        this.linkContent.set(key, { precopyPath: unchanged.rel as string });
        continue;
      }
      let content: LinkContent = { unreadable: true };
      for (const e of entries) {
        const read = await this.archiver.readFile(e.abs as string, e.rel as string, e.st as BigIntStats);
        if (read) {
          content = { read };
          break;
        }
        e.dropped = true;
      }
      if ('unreadable' in content) for (const e of entries) e.dropped = true;
      this.linkContent.set(key, content);
    }
  }

  private async tree(digest: Digest, path: string): Promise<Tree> {
    try {
      return decodeTree(await this.store.readBlob(digest), `tree ${digest}`);
    } catch (err) {
      throw new TsbakError(`the pre-copy's tree of ${path || '.'} cannot be read back (${errorMessage(err)}); the frozen pass cannot be completed`, { cause: err });
    }
  }

  /** The pre-copy's node at a path (for a hard-linked inode whose content it holds). */
  private async precopyNode(path: string): Promise<EntryNode> {
    let tree = await this.tree(this.precopy.tree, '');
    const parts = path.split('/');
    for (let i = 0; i < parts.length; i++) {
      const node = tree.nodes.find((n) => n.name === parts[i]);
      if (!node || isHardlink(node)) break;
      if (i === parts.length - 1) return node;
      if (node.type !== 'dir' || !node.subtree) break;
      tree = await this.tree(node.subtree, parts.slice(0, i + 1).join('/'));
    }
    throw new TsbakError(`internal error: the pre-copy has no node for ${path}, though its fingerprint was recorded`);
  }

  /** After the thaw: the trees, stored, and the result. */
  async finish(): Promise<BackupResult> {
    const st = this.rootSt as BigIntStats;
    const top = await this.tree(this.precopy.tree, '');
    const rootMeta = metaOf(st, 'dir');
    const xattrs = this.rootSame ? top.root?.xattrs : this.rootXattrs;
    if (xattrs) rootMeta.xattrs = xattrs;
    const hardlinks = new Map<string, string>();
    const nodes = await this.build(this.rootDir as FrozenDir, '', top, hardlinks);
    const tree = await this.store.putTree(encodeTree(nodes, rootMeta));
    await this.store.flush();
    const stats = this.archiver.stats;
    const pre = this.precopy.stats;
    stats.readBytes += pre.readBytes;
    stats.newChunks = pre.newChunks + this.store.stats.newChunks - this.before.newChunks;
    stats.newTrees = pre.newTrees + this.store.stats.newTrees - this.before.newTrees;
    stats.newBytes = pre.newBytes + this.store.stats.newBytes - this.before.newBytes;
    return { tree, stats, errors: this.archiver.errors, warnings: this.archiver.warnings };
  }

  private async build(dir: FrozenDir, rel: string, prev: Tree | undefined, hardlinks: Map<string, string>): Promise<TreeNode[]> {
    const stats = this.archiver.stats;
    const previous = new Map<string, TreeNode>();
    for (const n of prev?.nodes ?? []) previous.set(n.name, n);
    const keyed = dir.entries.map((e) => ({ key: Buffer.from(e.name, 'utf8'), e }));
    keyed.sort((a, b) => Buffer.compare(a.key, b.key));
    const nodes: TreeNode[] = [];
    for (const { e } of keyed) {
      if (e.dropped) continue;
      const path = rel ? `${rel}/${e.name}` : e.name;
      const p = previous.get(e.name);
      if (e.linkKey) {
        const first = hardlinks.get(e.linkKey);
        if (first !== undefined) {
          stats.files++;
          nodes.push({ name: e.name, type: 'file', hardlink: first });
          continue;
        }
        hardlinks.set(e.linkKey, path);
      }
      let node: EntryNode;
      if (e.same) {
        if (!p || isHardlink(p) || p.type !== e.type) throw new TsbakError(`internal error: the pre-copy's node of ${path} does not match its fingerprint`);
        node = { ...p, atimeNs: (BigInt(e.aSec as number) * NS_PER_S + BigInt(e.aNsec as number)).toString() };
        delete node.subtree;
      } else {
        node = { name: e.name, type: e.type, ...metaOf(e.st as BigIntStats, e.type) };
        if (e.xattrs) node.xattrs = e.xattrs;
      }
      switch (e.type) {
        case 'dir': {
          stats.dirs++;
          if (e.mount) {
            node.subtree = await this.archiver.empty();
            break;
          }
          const sub = p && !isHardlink(p) && p.type === 'dir' && p.subtree ? await this.tree(p.subtree, path) : undefined;
          node.subtree = await this.store.putTree(encodeTree(await this.build(e.dir as FrozenDir, path, sub, hardlinks)));
          break;
        }
        case 'file': {
          stats.files++;
          if (e.linkKey) {
            const known = this.linkContent.get(e.linkKey) as LinkContent;
            if ('read' in known) {
              // Its bytes were counted as they were read.
              node.content = known.read.content;
              node.size = known.read.size;
              if (known.read.sparse) node.sparse = true;
              else delete node.sparse;
            } else if ('precopyPath' in known) {
              const from = known.precopyPath === path && p && !isHardlink(p) ? p : await this.precopyNode(known.precopyPath);
              node.content = from.content ?? [];
              node.size = from.size;
              if (from.sparse) node.sparse = true;
              else delete node.sparse;
              stats.reusedFiles++;
              stats.bytes += node.size;
            }
          } else if (e.read) {
            node.content = e.read.content;
            node.size = e.read.size;
            if (e.read.sparse) node.sparse = true;
          } else {
            stats.reusedFiles++;
            stats.bytes += node.size;
          }
          break;
        }
        case 'symlink':
          stats.others++;
          if (!e.same) {
            node.target = e.target as string;
            node.size = Buffer.byteLength(node.target);
          }
          break;
        case 'chardev':
        case 'blockdev':
          stats.others++;
          if (!e.same) {
            const rdev = (e.st as BigIntStats).rdev;
            node.rdev = { major: devMajor(rdev), minor: devMinor(rdev) };
          }
          break;
        default:
          stats.others++;
      }
      nodes.push(node);
    }
    return nodes;
  }
}
