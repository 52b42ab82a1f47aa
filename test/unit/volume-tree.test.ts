import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTree, encodeTree, type EntryNode, type TreeNode } from '../../src/volume/tree.js';
import { sha256 } from '../../src/util/digest.js';
import { CorruptDataError } from '../../src/errors.js';

const meta = { mode: 0o644, uid: 1000, gid: 1000, size: 5, mtimeNs: '1600000000123456789', atimeNs: '1600000000000000001', ctimeNs: '1600000000123456789', inode: '42' };
const d1 = sha256('one');
const d2 = sha256('two');

function file(name: string, extra: Partial<EntryNode> = {}): EntryNode {
  return { name, type: 'file', ...meta, content: [d1, d2], ...extra };
}

test('trees encode canonically: sorted by UTF-8 bytes, fixed key order, sorted xattrs', () => {
  const nodes: TreeNode[] = [
    file('zeta', { xattrs: { 'user.b': 'Yg==', 'security.capability': 'AQ==', 'user.a': 'YQ==' } }),
    file('Alpha'),
    { name: 'émoji ✓', type: 'symlink', ...meta, target: '../x' },
    { name: 'link', type: 'file', hardlink: 'dir/zeta' },
    { name: 'dev', type: 'chardev', ...meta, size: 0, rdev: { major: 1, minor: 3 } },
    { name: 'd', type: 'dir', ...meta, size: 0, subtree: d1 },
    file('sparse', { sparse: true }),
  ];
  const a = encodeTree(nodes);
  const b = encodeTree([...nodes].reverse());
  assert.ok(a.equals(b), 'order of input does not matter');
  const doc = decodeTree(a, 'test');
  assert.deepEqual(
    doc.nodes.map((n) => n.name),
    ['Alpha', 'd', 'dev', 'link', 'sparse', 'zeta', 'émoji ✓'],
  );
  const zeta = doc.nodes.find((n) => n.name === 'zeta') as EntryNode;
  assert.deepEqual(Object.keys(zeta.xattrs ?? {}), ['security.capability', 'user.a', 'user.b']);
  assert.deepEqual(Object.keys(zeta), ['name', 'type', 'mode', 'uid', 'gid', 'size', 'mtimeNs', 'atimeNs', 'ctimeNs', 'inode', 'xattrs', 'content']);
  assert.deepEqual(doc.nodes.find((n) => n.name === 'link'), { name: 'link', type: 'file', hardlink: 'dir/zeta' });
  assert.deepEqual((doc.nodes.find((n) => n.name === 'dev') as EntryNode).rdev, { major: 1, minor: 3 });
  // Root metadata only where given.
  assert.equal(doc.root, undefined);
  assert.deepEqual(decodeTree(encodeTree([], { ...meta, size: 0 }), 'root').root, { ...meta, size: 0 });
  // A round trip re-encodes to the same bytes (the same digest on every host).
  assert.ok(encodeTree(doc.nodes).equals(a));
});

test('encoding refuses bad and duplicate names', () => {
  assert.throws(() => encodeTree([file('a/b')]), /"\/"/);
  assert.throws(() => encodeTree([file('..')]), CorruptDataError);
  assert.throws(() => encodeTree([file('x'), file('x')]), /two directory entries/);
});

test('decoding refuses hostile or malformed trees', () => {
  const bad = (nodes: unknown[], re: RegExp) =>
    assert.throws(() => decodeTree(Buffer.from(JSON.stringify({ version: 1, nodes })), 'tree t'), re, JSON.stringify(nodes).slice(0, 80));
  bad([{ ...file('../etc') }], /refusing/);
  bad([{ ...file('.') }], /refusing/);
  bad([{ ...file('') }], /refusing/);
  bad([{ ...file('a\u0000b') }], /refusing/);
  bad([file('a'), file('a')], /two entries/);
  bad([{ name: 'l', type: 'file', hardlink: '../../etc/shadow' }], /hard link/);
  bad([{ name: 'l', type: 'file', hardlink: '/etc/shadow' }], /hard link/);
  bad([{ name: 'l', type: 'dir', hardlink: 'a' }], /hard link/);
  bad([{ ...file('x'), type: 'whiteout' }], /unknown type/);
  bad([{ ...file('x'), mode: 0o170777 }], /beyond 07777/);
  bad([{ ...file('x'), mtimeNs: 12 }], /mtimeNs/);
  bad([{ ...file('x'), content: ['sha256:nothex'] }], /content/);
  bad([{ name: 'd', type: 'dir', ...meta }], /subtree/);
  bad([{ name: 's', type: 'symlink', ...meta }], /target/);
  bad([{ name: 'n', type: 'chardev', ...meta }], /rdev/);
  assert.throws(() => decodeTree(Buffer.from('{"version":2,"nodes":[]}'), 't'), /version 1/);
  assert.throws(() => decodeTree(Buffer.from('not json'), 't'), /not valid JSON/);
});
