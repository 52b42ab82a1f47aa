/**
 * Tree documents: one JSON document per directory, stored as a blob of kind
 * `tree` (so identical directories are stored once). docs/FORMAT.md, "Trees".
 *
 * Encoding is canonical (nodes sorted by the UTF-8 bytes of their names, keys in
 * a fixed order, xattr names sorted) so the same directory gives the same blob
 * on every host. Decoding validates everything a restore relies on: a tree read
 * from a repository may be hostile.
 */
import { CorruptDataError, errorMessage } from '../errors.js';
import { isDigest, type Digest } from '../util/digest.js';

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';
const NODE_TYPES: ReadonlySet<string> = new Set(['file', 'dir', 'symlink', 'fifo', 'chardev', 'blockdev', 'socket']);

/** The metadata every entry (and the volume root) carries. */
export interface NodeMeta {
  /** Permission bits including setuid, setgid and sticky (st_mode & 07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Nanoseconds since the epoch, as a decimal string (too big for a JSON number). */
  mtimeNs: string;
  atimeNs?: string;
  /** For change detection only; not restorable. */
  ctimeNs: string;
  /** For change detection only (decimal string). */
  inode: string;
  /** Bytes of content (files), of the target (symlinks), else 0. */
  size: number;
  /** Extended attributes: name → base64 value (user.*, security.*, trusted.* as root). */
  xattrs?: Record<string, string>;
}

/** A directory entry with its own metadata. */
export interface EntryNode extends NodeMeta {
  name: string;
  type: NodeType;
  /** Files: the chunk digests, in order. */
  content?: Digest[];
  /** Directories: the tree blob of the directory. */
  subtree?: Digest;
  /** Symlinks: the target, as stored (never followed). */
  target?: string;
  /** Files whose holes were not stored as data on disk (restored sparse). */
  sparse?: true;
  /** Device nodes. */
  rdev?: { major: number; minor: number };
}

/** A later occurrence of a hard-linked file: only the path (from the volume root) of the first one. */
export interface HardlinkNode {
  name: string;
  type: 'file';
  hardlink: string;
}

export type TreeNode = EntryNode | HardlinkNode;

export interface Tree {
  version: 1;
  /** Only in the tree a volume snapshot names: the metadata of the volume directory itself. */
  root?: NodeMeta;
  nodes: TreeNode[];
}

export function isHardlink(node: TreeNode): node is HardlinkNode {
  return 'hardlink' in node && typeof node.hardlink === 'string';
}

/** Compare names by their UTF-8 bytes (the canonical order). */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Why `name` cannot be a directory entry, or undefined when it can. */
export function badName(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'an empty name';
  if (name === '.' || name === '..') return `the name "${name}"`;
  if (name.includes('/')) return `a name with "/" ("${name}")`;
  if (name.includes('\0')) return 'a name with a NUL byte';
  return undefined;
}

function metaJson(m: NodeMeta): Record<string, unknown> {
  const out: Record<string, unknown> = { mode: m.mode, uid: m.uid, gid: m.gid, size: m.size, mtimeNs: m.mtimeNs };
  if (m.atimeNs !== undefined) out.atimeNs = m.atimeNs;
  out.ctimeNs = m.ctimeNs;
  out.inode = m.inode;
  if (m.xattrs && Object.keys(m.xattrs).length > 0) {
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(m.xattrs).sort(compareNames)) sorted[k] = m.xattrs[k] as string;
    out.xattrs = sorted;
  }
  return out;
}

function nodeJson(n: TreeNode): Record<string, unknown> {
  if (isHardlink(n)) return { name: n.name, type: n.type, hardlink: n.hardlink };
  const out: Record<string, unknown> = { name: n.name, type: n.type, ...metaJson(n) };
  if (n.rdev) out.rdev = { major: n.rdev.major, minor: n.rdev.minor };
  if (n.target !== undefined) out.target = n.target;
  if (n.sparse) out.sparse = true;
  if (n.content) out.content = n.content;
  if (n.subtree) out.subtree = n.subtree;
  return out;
}

/** The canonical bytes of a tree. Sorts the nodes; refuses duplicate or invalid names. */
export function encodeTree(nodes: TreeNode[], root?: NodeMeta): Buffer {
  const sorted = [...nodes].sort((a, b) => compareNames(a.name, b.name));
  for (let i = 0; i < sorted.length; i++) {
    const n = sorted[i] as TreeNode;
    const bad = badName(n.name);
    if (bad) throw new CorruptDataError(`cannot store a directory entry with ${bad}`);
    if (i > 0 && (sorted[i - 1] as TreeNode).name === n.name) throw new CorruptDataError(`two directory entries are named "${n.name}"`);
  }
  const doc: Record<string, unknown> = { version: 1 };
  if (root) doc.root = metaJson(root);
  doc.nodes = sorted.map(nodeJson);
  return Buffer.from(JSON.stringify(doc));
}

const DECIMAL = /^-?[0-9]{1,30}$/;

function checkMeta(m: Record<string, unknown>, where: string): void {
  const int = (k: string, min: number) => {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new CorruptDataError(`${where}: "${k}" is not a valid number`);
  };
  int('mode', 0);
  if ((m.mode as number) > 0o7777) throw new CorruptDataError(`${where}: mode ${m.mode} has bits beyond 07777`);
  int('uid', 0);
  int('gid', 0);
  int('size', 0);
  for (const k of ['mtimeNs', 'ctimeNs', 'inode']) {
    if (typeof m[k] !== 'string' || !DECIMAL.test(m[k] as string)) throw new CorruptDataError(`${where}: "${k}" is not a decimal string`);
  }
  if (m.atimeNs !== undefined && (typeof m.atimeNs !== 'string' || !DECIMAL.test(m.atimeNs))) throw new CorruptDataError(`${where}: "atimeNs" is not a decimal string`);
  if (m.xattrs !== undefined) {
    if (typeof m.xattrs !== 'object' || m.xattrs === null || Array.isArray(m.xattrs)) throw new CorruptDataError(`${where}: "xattrs" is not an object`);
    for (const [k, v] of Object.entries(m.xattrs)) {
      if (!k || k.includes('\0') || typeof v !== 'string') throw new CorruptDataError(`${where}: invalid extended attribute "${k}"`);
    }
  }
}

/** Check a hard link's path: relative, plain components only. */
export function badLinkPath(path: unknown): string | undefined {
  if (typeof path !== 'string' || path.length === 0) return 'an empty path';
  for (const part of path.split('/')) {
    const bad = badName(part);
    if (bad) return `a path with ${bad}`;
  }
  return undefined;
}

/** Parse and validate a tree blob. `what` names it in errors ("tree sha256:…"). */
export function decodeTree(buf: Buffer, what: string): Tree {
  let doc: Tree;
  try {
    doc = JSON.parse(buf.toString('utf8')) as Tree;
  } catch (err) {
    throw new CorruptDataError(`${what} is not valid JSON: ${errorMessage(err)}`);
  }
  if (typeof doc !== 'object' || doc === null || doc.version !== 1 || !Array.isArray(doc.nodes)) {
    throw new CorruptDataError(`${what} is not a version 1 tree document`);
  }
  if (doc.root !== undefined) checkMeta(doc.root as unknown as Record<string, unknown>, `${what} (root)`);
  const names = new Set<string>();
  for (const node of doc.nodes as unknown as Record<string, unknown>[]) {
    const bad = badName(node.name);
    if (bad) throw new CorruptDataError(`${what} holds an entry with ${bad}; refusing it (a hostile or corrupted tree)`);
    const name = node.name as string;
    const where = `${what}, entry "${name}"`;
    if (names.has(name)) throw new CorruptDataError(`${what} holds two entries named "${name}"; refusing it`);
    names.add(name);
    if (typeof node.type !== 'string' || !NODE_TYPES.has(node.type)) throw new CorruptDataError(`${where}: unknown type "${String(node.type)}"`);
    if (node.hardlink !== undefined) {
      const badPath = badLinkPath(node.hardlink);
      if (node.type !== 'file' || badPath) throw new CorruptDataError(`${where}: invalid hard link (${badPath ?? 'not a file'}); refusing it`);
      continue;
    }
    checkMeta(node, where);
    if (node.type === 'file' && node.content !== undefined) {
      if (!Array.isArray(node.content) || !node.content.every((d) => typeof d === 'string' && isDigest(d))) throw new CorruptDataError(`${where}: invalid content list`);
    }
    if (node.type === 'dir' && (typeof node.subtree !== 'string' || !isDigest(node.subtree))) throw new CorruptDataError(`${where}: directory without a valid subtree`);
    if (node.type === 'symlink' && (typeof node.target !== 'string' || node.target.length === 0 || node.target.includes('\0'))) throw new CorruptDataError(`${where}: symlink without a valid target`);
    if (node.type === 'chardev' || node.type === 'blockdev') {
      const r = node.rdev as { major?: unknown; minor?: unknown } | undefined;
      if (!r || !Number.isSafeInteger(r.major) || !Number.isSafeInteger(r.minor) || (r.major as number) < 0 || (r.minor as number) < 0) {
        throw new CorruptDataError(`${where}: device without a valid rdev`);
      }
    }
  }
  return doc;
}
