// Volume engine round trip: back up a directory with every kind of entry and
// metadata into a real repository, restore it elsewhere, compare. Runs as root
// (device nodes, owners, security.capability); needs no Docker.
import { access } from '../repo-access.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync, chownSync, closeSync, existsSync, ftruncateSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync,
  readdirSync, readlinkSync, symlinkSync, writeFileSync, writeSync, type BigIntStats,
} from 'node:fs';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpDir } from '../helpers.js';
import { LocalBackend } from '../../src/repo/backend/local.js';
import { Repository } from '../../src/repo/repository.js';
import { BlobIndex } from '../../src/repo/blob-index.js';
import { VolumeStore } from '../../src/volume/store.js';
import { backupTree, diffAgainst, Fingerprints, scanFrozen } from '../../src/volume/archiver.js';
import { restoreTree } from '../../src/volume/restorer.js';
import { decodeTree, isHardlink, type TreeNode } from '../../src/volume/tree.js';
import { devMajor, devMinor, lgetxattr, llistxattr, lsetxattr, mknod, utimensat } from '../../src/sys/libc.js';
import type { Digest } from '../../src/util/digest.js';

const skip = process.getuid?.() !== 0 ? 'needs root (device nodes, owners, security.capability)' : false;
const MiB = 1024 * 1024;

/** A security.capability value (VFS_CAP_REVISION_2, effective) granting CAP_NET_RAW, as setcap writes it. */
function capability(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000000 | 0x1, 0);
  b.writeUInt32LE(1 << 13, 4); // permitted: CAP_NET_RAW
  return b;
}

let work: string;
let src: string;
let repoRoot: string;

function buildSource(dir: string): void {
  mkdirSync(join(dir, 'data/nested/deeper'), { recursive: true });
  writeFileSync(join(dir, 'empty'), '');
  writeFileSync(join(dir, 'small.txt'), 'hello, volume\n');
  writeFileSync(join(dir, 'random.bin'), randomBytes(10 * MiB));
  writeFileSync(join(dir, 'big50.bin'), randomBytes(50 * MiB));
  writeFileSync(join(dir, 'data/nested/deeper/names with spaces & ünïcode ✓'), 'unicode\n');
  const text = Array.from({ length: 20000 }, (_, i) => `log line ${i}: the quick brown fox ${i % 97}\n`).join('');
  writeFileSync(join(dir, 'data/app.log'), text);
  // Sparse: 100 MB with three 4 KiB data blocks.
  const fd = openSync(join(dir, 'sparse.img'), 'w');
  ftruncateSync(fd, 100 * MiB);
  for (const at of [0, 50 * MiB + 123, 100 * MiB - 4096]) writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, at);
  closeSync(fd);
  // Hard links: a big file and a small one, across directories.
  linkSync(join(dir, 'random.bin'), join(dir, 'data/random-hardlink'));
  writeFileSync(join(dir, 'data/h1'), 'linked twice\n');
  linkSync(join(dir, 'data/h1'), join(dir, 'data/nested/h2'));
  linkSync(join(dir, 'data/h1'), join(dir, 'h3'));
  // Symlinks: relative, dangling, absolute, to a directory.
  symlinkSync('small.txt', join(dir, 'link-rel'));
  symlinkSync('does/not/exist', join(dir, 'dangling'));
  symlinkSync('/etc/passwd', join(dir, 'absolute'));
  symlinkSync('data/nested', join(dir, 'link-dir'));
  // A fifo and a char device like /dev/null.
  mknod(join(dir, 'fifo'), 0o010640, 0, 0);
  mknod(join(dir, 'null'), 0o020666, 1, 3);
  // xattrs: user.* on files and a directory, security.capability on a binary.
  lsetxattr(join(dir, 'small.txt'), 'user.comment', Buffer.from('a note'));
  lsetxattr(join(dir, 'small.txt'), 'user.binary', Buffer.from([0, 1, 2, 255]));
  lsetxattr(join(dir, 'data'), 'user.dir', Buffer.from('on a directory'));
  writeFileSync(join(dir, 'ping'), 'not really a binary\n');
  chmodSync(join(dir, 'ping'), 0o755);
  lsetxattr(join(dir, 'ping'), 'security.capability', capability());
  // Odd modes and owners.
  writeFileSync(join(dir, 'setuid'), '#!/bin/sh\n');
  chownSync(join(dir, 'setuid'), 1234, 5678);
  chmodSync(join(dir, 'setuid'), 0o4755);
  mkdirSync(join(dir, 'sticky'));
  chmodSync(join(dir, 'sticky'), 0o1777);
  mkdirSync(join(dir, 'setgid'));
  chownSync(join(dir, 'setgid'), 999, 999);
  chmodSync(join(dir, 'setgid'), 0o2750);
  chownSync(join(dir, 'data/app.log'), 1000, 1001);
  execFileSync('chown', ['-h', '4321:8765', join(dir, 'link-rel')]);
  chmodSync(join(dir, 'data/nested/deeper'), 0o700);
  // Nanosecond times (files, a symlink, directories; directories last).
  utimensat(join(dir, 'small.txt'), 1_500_000_000_111_111_111n, 1_600_000_000_123_456_789n, false);
  utimensat(join(dir, 'link-rel'), 1_500_000_000_000_000_001n, 1_400_000_000_987_654_321n, true);
  utimensat(join(dir, 'data/nested'), 1_500_000_000_000_000_000n, 1_300_000_000_000_000_007n, false);
  chmodSync(dir, 0o750);
}

interface Entry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: string;
  target?: string;
  rdev?: string;
  xattrs: Record<string, string>;
  sha256?: string;
  /** The first path (in walk order) of this inode, for hard links. */
  linkOf?: string;
}

/** Everything restorable about a tree, by path (atimes apart: reading a file or a symlink updates them; checked separately). */
function describe(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const inodes = new Map<bigint, string>();
  const walk = (abs: string, rel: string) => {
    const st: BigIntStats = lstatSync(abs, { bigint: true });
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'chardev' : 'other';
    const xattrs: Record<string, string> = {};
    for (const name of llistxattr(abs).sort()) xattrs[name] = lgetxattr(abs, name).toString('hex');
    const e: Entry = { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), size: type === 'dir' ? 0 : Number(st.size), mtimeNs: st.mtimeNs.toString(), xattrs };
    if (type === 'symlink') e.target = readlinkSync(abs);
    if (type === 'chardev') e.rdev = `${devMajor(st.rdev)}:${devMinor(st.rdev)}`;
    if (type === 'file') {
      if (st.nlink > 1n) {
        const first = inodes.get(st.ino);
        if (first) e.linkOf = first;
        else inodes.set(st.ino, rel);
      }
      e.sha256 = createHash('sha256').update(readFileSync(abs)).digest('hex');
    }
    out.set(rel, e);
    if (type === 'dir') for (const name of readdirSync(abs).sort()) walk(join(abs, name), rel === '.' ? name : `${rel}/${name}`);
  };
  walk(root, '.');
  return out;
}

function findListing(root: string): string {
  // Type, mode, owner, size (not for directories), mtime with ns, link target, link count.
  const r = spawnSync('find', ['.', '-printf', '%p|%y|%m|%U|%G|%T@|%l|%n|%s\\n'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const parts = line.split('|');
      if (parts[1] === 'd') parts[8] = '-';
      return parts.join('|');
    })
    .sort()
    .join('\n');
}

function tarListing(root: string): string {
  const r = spawnSync('tar', ['--xattrs', "--xattrs-include=*", '--numeric-owner', '--full-time', '-cvvf', '/dev/null', '.'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // Drop directory sizes (filesystem-dependent).
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => (l.startsWith('d') ? l.replace(/^(\S+\s+\S+)\s+\d+/, '$1 -') : l))
    .sort()
    .join('\n');
}

async function openStore(): Promise<{ store: VolumeStore; repo: Repository }> {
  const repo = await Repository.open(new LocalBackend(repoRoot), access);
  return { store: await VolumeStore.forRepository(repo), repo };
}

before(async () => {
  if (skip) return;
  work = tmpDir('tsbak-volume-');
  src = join(work, 'src');
  mkdirSync(src);
  buildSource(src);
  repoRoot = join(work, 'repo');
  await Repository.init(new LocalBackend(repoRoot), access);
});

let firstTree: Digest;

/** Deterministic incompressible bytes: an AES-256-CTR keystream keyed by `seed`. */
function seededBytes(seed: string, size: number): Buffer {
  return createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16)).update(Buffer.alloc(size));
}

test('a backup restores with every entry type, mode, owner, time, xattr, hard link and hole', { skip }, async () => {
  const { store } = await openStore();
  try {
    const expected = describe(src);
    const findBefore = findListing(src);
    const tarBefore = tarListing(src);
    const result = await backupTree(src, store);
    firstTree = result.tree;
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, []);
    // Every file is read once (not its hard links), the sparse one only where it has data.
    const dense = 10 * MiB + 50 * MiB + readFileSync(join(src, 'data/app.log')).length + 14 + 8 + 13 + 20 + 10;
    const sparseRead = result.stats.readBytes - dense;
    assert.ok(sparseRead >= 3 * 4096 && sparseRead <= 64 * 1024, `read ${sparseRead} bytes of the sparse file`);
    assert.equal(result.stats.files, 13);
    assert.ok(result.stats.newChunks >= 50 && result.stats.newChunks < 90, `${result.stats.newChunks} chunks`);

    // The repository holds packs and an index naming them; a fresh index sees the tree.
    const index = await BlobIndex.load((await Repository.open(new LocalBackend(repoRoot), access)).objects);
    assert.equal(index.get(result.tree)?.kind, 'tree');
    assert.ok(index.get(result.tree)?.pack);
    const packs = readdirSync(join(repoRoot, 'data')).flatMap((d) => readdirSync(join(repoRoot, 'data', d)));
    assert.ok(packs.length >= 3 && packs.length <= 8, `${packs.length} packs for ~62 MB of random data`);
    const root = decodeTree(await store.readBlob(result.tree), 'root');
    assert.equal(root.root?.mode, 0o750);
    assert.equal(root.nodes.find((n) => n.name === 'sparse.img' && 'sparse' in n && n.sparse)?.name, 'sparse.img');

    // Restore into a new directory (with a fresh store: everything comes from the repository).
    const { store: reader } = await openStore();
    const dst = join(work, 'restored');
    const restored = await restoreTree(result.tree, reader, dst, { overwrite: false });
    assert.deepEqual(restored.warnings, []);
    // Access times are restored as recorded (checked before anything reads the files).
    const small = root.nodes.find((n) => n.name === 'small.txt');
    assert.ok(small && 'atimeNs' in small && small.atimeNs);
    assert.equal(lstatSync(join(dst, 'small.txt'), { bigint: true }).atimeNs.toString(), small.atimeNs);
    const link = root.nodes.find((n) => n.name === 'link-rel');
    assert.equal(lstatSync(join(dst, 'link-rel'), { bigint: true }).atimeNs.toString(), link && 'atimeNs' in link ? link.atimeNs : 'missing');
    const actual = describe(dst);
    assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
    for (const [path, e] of expected) assert.deepEqual(actual.get(path), e, `entry ${path}`);
    assert.equal(findListing(dst), findBefore);
    assert.equal(tarListing(dst), tarBefore);
    // The sparse file is sparse again, and capabilities work as capabilities.
    const sparse = lstatSync(join(dst, 'sparse.img'));
    assert.equal(sparse.size, 100 * MiB);
    assert.ok(sparse.blocks * 512 < MiB, `sparse file restored with ${sparse.blocks * 512} bytes allocated`);
    assert.ok(lgetxattr(join(dst, 'ping'), 'security.capability').equals(capability()));
    const getcap = spawnSync('getcap', [join(dst, 'ping')], { encoding: 'utf8' });
    if (getcap.status === 0) assert.match(getcap.stdout, /cap_net_raw[=+]ep/);
    // A restore into a non-empty directory without overwrite is refused; with overwrite it replaces.
    await assert.rejects(restoreTree(result.tree, reader, dst, { overwrite: false }), /not empty.*--overwrite/);
    writeFileSync(join(dst, 'small.txt'), 'changed');
    symlinkSync('/tmp', join(dst, 'data/nested/deeper/evil-link'));
    await restoreTree(result.tree, reader, dst, { overwrite: true });
    assert.equal(readFileSync(join(dst, 'small.txt'), 'utf8'), 'hello, volume\n');
    await reader.close();
  } finally {
    await store.close();
  }
});

test('an unchanged re-backup reads no file and adds no chunk; diffAgainst sees nothing', { skip }, async () => {
  assert.ok(firstTree, 'the first test ran');
  const { store } = await openStore();
  try {
    assert.deepEqual(await diffAgainst(src, firstTree, store), []);
    const t0 = process.hrtime.bigint();
    const again = await backupTree(src, store, { parent: firstTree });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`# unchanged re-backup of ${again.stats.files} files: ${ms.toFixed(0)} ms`);
    assert.equal(again.stats.readBytes, 0, 'no file content read');
    assert.equal(again.stats.newChunks, 0);
    assert.equal(again.stats.reusedFiles, 10, 'every file but the 3 hard links (which store no content)');
    assert.equal(again.tree, firstTree, 'the same tree');
    // Without a parent, the content is read again but nothing new is stored.
    const full = await backupTree(src, store);
    assert.ok(full.stats.readBytes > 60 * MiB);
    assert.equal(full.stats.newChunks, 0);
    assert.equal(full.tree, firstTree);
  } finally {
    await store.close();
  }
});

test('1 MiB changed in the middle of a 50 MB file adds only a few chunks', { skip }, async () => {
  const { store } = await openStore();
  try {
    const fd = openSync(join(src, 'big50.bin'), 'r+');
    // Seeded, so the chunk count is the same on every run (random bytes gave 1–4 new chunks).
    writeSync(fd, seededBytes('volume-roundtrip/changed-MiB', MiB), 0, MiB, 25 * MiB);
    closeSync(fd);
    assert.deepEqual(await diffAgainst(src, firstTree, store), [{ path: 'big50.bin', change: 'modified' }]);
    const r = await backupTree(src, store, { parent: firstTree });
    assert.deepEqual(r.errors, []);
    // 1 MiB changed spans at most 4 chunks of the 256 KiB minimum plus the two it cuts at its edges;
    // of the ~50 chunks of the file the rest must be reused.
    assert.ok(r.stats.newChunks >= 1 && r.stats.newChunks <= 6, `${r.stats.newChunks} new chunks`);
    assert.equal(r.stats.readBytes, 50 * MiB, 'only the changed file is read');
    assert.equal(r.stats.reusedFiles, 9);
    const dst = join(work, 'restored-2');
    await restoreTree(r.tree, store, dst, { overwrite: false });
    assert.ok(readFileSync(join(dst, 'big50.bin')).equals(readFileSync(join(src, 'big50.bin'))));
  } finally {
    await store.close();
  }
});

test('a copy of the volume (new inodes and ctimes) is not re-read with ignoreInode', { skip }, async () => {
  const { store } = await openStore();
  try {
    const copy = join(work, 'copy');
    execFileSync('cp', ['-a', src, copy]);
    const strict = await diffAgainst(copy, firstTree, store);
    assert.ok(strict.some((d) => d.path === 'small.txt'), 'new inodes count as changes by default');
    const r = await backupTree(copy, store, { parent: firstTree, ignoreInode: true });
    assert.deepEqual(r.errors, []);
    // big50.bin changed in the previous test; everything else is reused.
    assert.equal(r.stats.readBytes, 50 * MiB);
    assert.equal(r.stats.reusedFiles, 9);
  } finally {
    await store.close();
  }
});

/** Every node of a stored tree by path, without atimes (reading a directory can move its atime) or subtree digests (which hold them). */
async function flatten(store: VolumeStore, tree: Digest): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  const walk = async (digest: Digest, prefix: string): Promise<void> => {
    const doc = decodeTree(await store.readBlob(digest), prefix || 'root');
    if (prefix === '') out.set('.', { ...doc.root, atimeNs: undefined });
    for (const n of doc.nodes as TreeNode[]) {
      const path = prefix ? `${prefix}/${n.name}` : n.name;
      out.set(path, isHardlink(n) ? n : { ...n, atimeNs: undefined, subtree: undefined });
      if (!isHardlink(n) && n.type === 'dir' && n.subtree) await walk(n.subtree, path);
    }
  };
  await walk(tree, '');
  return out;
}

test('the frozen pass records what a full backup of the same state records, reading only what changed since the pre-copy', { skip }, async () => {
  const dir = join(work, 'frozen');
  execFileSync('cp', ['-a', src, dir]);
  const { store } = await openStore();
  try {
    const seen = new Fingerprints();
    const pre = await backupTree(dir, store, { record: seen });
    assert.deepEqual(pre.errors, []);
    // Changes between the pre-copy and the freeze, of every kind the scan must notice.
    writeFileSync(join(dir, 'small.txt'), 'hello, frozen!\n'); // new content, new size
    const fd = openSync(join(dir, 'big50.bin'), 'r+');
    writeSync(fd, seededBytes('volume-roundtrip/frozen', MiB), 0, MiB, 10 * MiB); // same size, new mtime
    closeSync(fd);
    chmodSync(join(dir, 'data/app.log'), 0o600); // metadata only: ctime
    lsetxattr(join(dir, 'data'), 'user.dir', Buffer.from('changed on a directory'));
    symlinkSync('small.txt', join(dir, 'new-link'));
    execFileSync('rm', [join(dir, 'dangling'), join(dir, 'data/nested/h2')]); // a removed symlink and a removed hard link
    linkSync(join(dir, 'random.bin'), join(dir, 'a-new-first-link')); // sorts before random.bin: the new first path of that inode
    mkdirSync(join(dir, 'added/sub'), { recursive: true });
    writeFileSync(join(dir, 'added/sub/file'), seededBytes('volume-roundtrip/added', 3 * MiB));
    // small.txt, big50.bin, the added file, app.log (new ctime), random.bin (a new link: new ctime), h1 (a link removed: new ctime)
    const changedBytes = 15 + 50 * MiB + 3 * MiB + readFileSync(join(dir, 'data/app.log')).length + 10 * MiB + 13;

    const scan = await scanFrozen(dir, store, { result: pre, seen });
    const frozen = await scan.finish();
    assert.deepEqual(frozen.errors, []);
    assert.deepEqual(frozen.warnings, []);
    assert.equal(frozen.stats.readBytes - pre.stats.readBytes, changedBytes, 'under the freeze only the changed files are read');
    const full = await backupTree(dir, store);
    assert.deepEqual(full.errors, []);
    assert.deepEqual(frozen.stats.files, full.stats.files);
    assert.deepEqual(frozen.stats.dirs, full.stats.dirs);
    assert.deepEqual(frozen.stats.others, full.stats.others);
    assert.deepEqual(frozen.stats.bytes, full.stats.bytes);
    const got = await flatten(store, frozen.tree);
    const want = await flatten(store, full.tree);
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
    for (const [path, node] of want) assert.deepEqual(got.get(path), node, `entry ${path}`);
    assert.equal((got.get('random.bin') as { hardlink?: string }).hardlink, 'a-new-first-link');
    // And it restores to the frozen state.
    const dst = join(work, 'frozen-restored');
    await restoreTree(frozen.tree, store, dst, { overwrite: false });
    assert.deepEqual(describe(dst), describe(dir));
  } finally {
    await store.close();
  }
});

test('a hostile tree is refused: "../" names, bad hard links, duplicate names', { skip }, async () => {
  const { store } = await openStore();
  try {
    const meta = { mode: 0o644, uid: 0, gid: 0, size: 0, mtimeNs: '0', ctimeNs: '0', inode: '1' };
    const hostile = async (nodes: object[]): Promise<Digest> => {
      const d = await store.putTree(Buffer.from(JSON.stringify({ version: 1, nodes })));
      await store.flush();
      return d;
    };
    const cases: [string, object[]][] = [
      ['dotdot', [{ name: '../evil', type: 'file', ...meta, content: [] }]],
      ['dot', [{ name: '..', type: 'dir', ...meta, subtree: firstTree }]],
      ['hardlink-out', [{ name: 'x', type: 'file', hardlink: '../../etc/passwd' }]],
      ['hardlink-unknown', [{ name: 'x', type: 'file', hardlink: 'not/restored' }]],
      ['duplicate', [{ name: 'a', type: 'symlink', ...meta, target: '/' }, { name: 'a', type: 'dir', ...meta, subtree: firstTree }]],
    ];
    for (const [name, nodes] of cases) {
      const dst = join(work, `hostile-${name}`);
      await assert.rejects(restoreTree(await hostile(nodes), store, dst, { overwrite: false }), /refusing/, name);
      assert.equal(existsSync(join(work, 'evil')), false);
      assert.deepEqual(readdirSync(dst), [], `${name}: nothing restored`);
    }
  } finally {
    await store.close();
  }
});

test('unreadable entries are reported per path, never dropped silently', { skip }, async () => {
  const dir = join(work, 'odd');
  mkdirSync(join(dir, 'ok'), { recursive: true });
  writeFileSync(join(dir, 'ok/file'), 'fine');
  // A name that is not UTF-8 (latin-1 "é").
  writeFileSync(Buffer.concat([Buffer.from(join(dir, 'caf')), Buffer.from([0xe9])]), 'latin-1 name');
  // A mount point inside the volume: not crossed, reported.
  mkdirSync(join(dir, 'mnt'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(dir, 'mnt')]).status === 0;
  if (mounted) writeFileSync(join(dir, 'mnt/other-fs'), 'not part of the volume');
  const { store } = await openStore();
  try {
    const r = await backupTree(dir, store);
    assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
    assert.match(r.errors[0]!.message, /not valid UTF-8 \(bytes 636166e9\)/);
    assert.equal(r.stats.files, 1);
    if (mounted) {
      assert.deepEqual(r.warnings.map((w) => w.path), ['mnt']);
      assert.match(r.warnings[0]!.message, /mount point/);
      const dst = join(work, 'odd-restored');
      await restoreTree(r.tree, store, dst, { overwrite: false });
      assert.deepEqual(readdirSync(join(dst, 'mnt')), [], 'the mount point is restored as an empty directory');
    }
  } finally {
    await store.close();
    if (mounted) spawnSync('umount', [join(dir, 'mnt')]);
  }
});

test('a full disk is a clear error naming the file and the target', { skip }, async (t) => {
  const mnt = join(work, 'small-fs');
  mkdirSync(mnt);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], { encoding: 'utf8' });
  if (m.status !== 0) return t.skip(`cannot mount a tmpfs: ${m.stderr.trim()}`);
  const { store } = await openStore();
  try {
    await assert.rejects(restoreTree(firstTree, store, join(mnt, 'target'), { overwrite: false }), (err: Error) => {
      assert.match(err.message, /no space left while restoring \S+ into .*small-fs\/target/);
      return true;
    });
  } finally {
    await store.close();
    spawnSync('umount', [mnt]);
  }
});
