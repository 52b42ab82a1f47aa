// The layer unpacker against real images and two oracles: an image built by the
// test env's dockerd whose upper layer deletes, replaces and re-creates things, and
// one loaded from a crafted archive whose upper layer has an opaque whiteout after
// its siblings. Each is unpacked with applyLayer from `docker save` and compared
// with `docker export` of a container made from it and with `umoci unpack`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { applyLayer, type LayerStats } from '../../src/runtime/unpack/index.js';
import { dockerCli, fixtures, integrationSkip, tmpDir } from '../helpers.js';
import { CHANGES_DOCKERFILE, docker, dockerExport, listing, run } from './support/rootfs-oracle.js';
import { buildLayer } from '../unit/support/hostile-layers.js';

const skip = integrationSkip();

interface Saved {
  dir: string;
  archive: string;
  layers: { file: string; diffId: string }[];
}

/** `docker save` of one image, extracted: its layer tars in order. */
async function save(image: string): Promise<Saved> {
  const dir = tmpDir('tsbak-unpack-save-');
  const archive = path.join(dir, 'save.tar');
  await docker(['save', '-o', archive, image]);
  const x = path.join(dir, 'x');
  mkdirSync(x);
  run('tar', ['-xf', archive, '-C', x]);
  const manifest = JSON.parse(readFileSync(path.join(x, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[] }[];
  const config = JSON.parse(readFileSync(path.join(x, (manifest[0] as { Config: string }).Config), 'utf8')) as { rootfs: { diff_ids: string[] } };
  const layers = (manifest[0] as { Layers: string[] }).Layers.map((l, i) => ({ file: path.join(x, l), diffId: config.rootfs.diff_ids[i] as string }));
  return { dir, archive, layers };
}

async function unpackWithTsbak(image: string, saved: Saved): Promise<{ root: string; stats: LayerStats[] }> {
  const root = path.join(saved.dir, 'tsbak-rootfs');
  mkdirSync(root);
  const stats: LayerStats[] = [];
  for (const [i, l] of saved.layers.entries()) {
    const label = `layer ${i + 1} (${l.diffId.slice(0, 19)}…) of ${image}`;
    stats.push(await applyLayer(root, createReadStream(l.file, { highWaterMark: 1 << 20 }), { label }));
  }
  return { root, stats };
}

function umociUnpack(saved: Saved): string {
  const layout = path.join(saved.dir, 'oci');
  run('skopeo', ['copy', '-q', `docker-archive:${saved.archive}`, `oci:${layout}:img`]);
  const bundle = path.join(saved.dir, 'bundle');
  run('umoci', ['unpack', '--image', `${layout}:img`, bundle]);
  return path.join(bundle, 'rootfs');
}

/** The names in a layer tar that are whiteouts. */
function whiteoutsIn(layer: string): string[] {
  return run('tar', ['-tf', layer])
    .split('\n')
    .filter((n) => /(^|\/)\.wh\./.test(n));
}

async function compareWithOracles(image: string): Promise<{ saved: Saved; tsbak: string[]; stats: LayerStats[] }> {
  const saved = await save(image);
  const { root, stats } = await unpackWithTsbak(image, saved);
  const ours = listing(root);
  const exported = listing(await dockerExport(image, saved.dir));
  const umoci = listing(umociUnpack(saved));
  assert.deepEqual(ours, umoci, 'tsbak and umoci unpack agree');
  assert.deepEqual(ours, exported, 'tsbak and docker export agree');
  return { saved, tsbak: ours, stats };
}

test('an image whose upper layer deletes, replaces and re-creates: same tree as docker export and umoci', { skip, timeout: 300_000 }, async () => {
  const fx = fixtures();
  const image = 'tsbak-test/unpack-changes:1';
  const ctx = tmpDir('tsbak-unpack-ctx-');
  writeFileSync(path.join(ctx, 'Dockerfile'), CHANGES_DOCKERFILE(fx.base.name));
  await docker(['build', '--network', 'none', '--force-rm', '-q', '-t', image, ctx]);
  try {
    const { saved, tsbak, stats } = await compareWithOracles(image);
    const top = saved.layers[saved.layers.length - 1] as { file: string };
    const wh = whiteoutsIn(top.file);
    // What the engine's driver wrote for `rm -rf /dir && mkdir /dir`: one whiteout per
    // child (vfs), or an opaque marker (overlay2). Either way the result must match.
    console.log(`# whiteouts in the upper layer: ${wh.join(' ')}`);
    assert.ok(wh.length >= 4, `the upper layer has whiteouts: ${wh.join(' ')}`);
    assert.equal((stats[stats.length - 1] as LayerStats).whiteouts, wh.length);
    for (const want of [
      'dirtofile f 0644 0:0 8 n1',
      'dir/f f 0644 0:0 4 n1',
      // h1 is a lower-layer file the upper layer does not change; h3 and h4, new in the upper
      // layer, share an inode there (the layer breaks their link with h1, in every implementation)
      'data/h1 f 4755 1000:1001 2 n1',
      'data/h3 f 4755 1000:1001 2 n2',
      'h4-at-root f 4755 1000:1001 2 n2',
      'data/fifo p 0644 7:8 n1',
      'data/rel-link/ d 0755 0:0',
      'data/up l 0:0 -> ../../..',
      'var/run l 0:0 -> /var/run-target',
      'opq/ d 0755 0:0',
    ]) {
      assert.ok(tsbak.some((l) => l.startsWith(want)), `${want} in ${tsbak.join('\n')}`);
    }
    for (const gone of ['del.txt', 'olddir/', 'dir/a', 'dir/sub/', 'opq/old', 'opq/keep/', 'data/h2']) {
      assert.ok(!tsbak.some((l) => l.startsWith(`${gone} `)), `${gone} was deleted`);
    }
  } finally {
    await dockerCli(['rmi', '-f', image]);
  }
});

test('a loaded image with an opaque whiteout after its siblings, whiteouts and type changes: same tree as docker export and umoci', { skip, timeout: 300_000 }, async () => {
  const fx = fixtures();
  const image = 'tsbak-test/unpack-opaque:1';
  const base = await save(fx.base.name);
  const T = new Date(1_650_000_000_000);
  const middle = await buildLayer([
    { name: 'opq/', type: 'directory', mode: 0o755, mtime: T },
    { name: 'opq/old', content: 'old', mtime: T },
    { name: 'opq/sub/', type: 'directory', mtime: T },
    { name: 'opq/sub/deep', content: 'deep', mtime: T },
    { name: 'opq/keep/', type: 'directory', mode: 0o750, uid: 5, gid: 5, mtime: T },
    { name: 'opq/keep/lower', content: 'lower', mtime: T },
    { name: 'opq/link', type: 'symlink', linkname: 'old', mtime: T },
    { name: 'srv/', type: 'directory', mtime: T },
    { name: 'srv/gone', content: 'gone', mtime: T },
    { name: 'srv/file-to-dir', content: 'f', mtime: T },
    { name: 'srv/dir-to-file/', type: 'directory', mtime: T },
    { name: 'srv/dir-to-file/child', content: 'c', mtime: T },
    { name: 'srv/link-to-file', type: 'symlink', linkname: '/etc/passwd', mtime: T },
    { name: 'srv/shared', content: 'shared', uid: 33, gid: 33, mode: 0o640, mtime: T },
    { name: 'srv/shared-2', type: 'link', linkname: 'srv/shared', uid: 33, gid: 33, mode: 0o640, mtime: T },
  ]);
  const upper = await buildLayer([
    { name: 'opq/', type: 'directory', mode: 0o711, mtime: T },
    { name: 'opq/new', content: 'new', mtime: T },
    { name: 'opq/keep/', type: 'directory', mode: 0o750, uid: 5, gid: 5, mtime: T },
    { name: 'opq/keep/mine', content: 'mine', mtime: T },
    { name: 'opq/.wh..wh..opq', content: '', mtime: T },
    { name: 'opq/after', content: 'after', mtime: T },
    { name: 'srv/', type: 'directory', mtime: T },
    { name: 'srv/.wh.gone', content: '', mtime: T },
    { name: 'srv/file-to-dir/', type: 'directory', mode: 0o700, mtime: T },
    { name: 'srv/dir-to-file', content: 'now a file', mtime: T },
    { name: 'srv/link-to-file', content: 'was a link', mode: 0o600, mtime: T },
    { name: 'srv/shared', content: 'replaced', mtime: T },
  ]);
  // a docker save (legacy layout) archive: the base layer, then the two built here
  const dir = tmpDir('tsbak-unpack-load-');
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const baseLayer = readFileSync((base.layers[0] as { file: string }).file);
  const layers = [baseLayer, middle, upper];
  layers.forEach((l, i) => {
    mkdirSync(path.join(dir, `l${i}`));
    writeFileSync(path.join(dir, `l${i}`, 'layer.tar'), l);
  });
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: layers.map(sha) }, history: layers.map(() => ({ created_by: 'tsbak test' })) }),
  );
  writeFileSync(path.join(dir, 'config.json'), config);
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: [image], Layers: layers.map((_, i) => `l${i}/layer.tar`) }]));
  const archive = path.join(dir, 'load.tar');
  run('tar', ['-cf', archive, '-C', dir, 'manifest.json', 'config.json', 'l0', 'l1', 'l2']);
  await docker(['load', '-i', archive]);
  try {
    const { tsbak, stats } = await compareWithOracles(image);
    assert.equal((stats[2] as LayerStats).whiteouts, 2);
    const opq = tsbak.filter((l) => l.startsWith('opq/'));
    assert.deepEqual(
      opq.map((l) => l.split(' ')[0]),
      ['opq/', 'opq/after', 'opq/keep/', 'opq/keep/mine', 'opq/new'],
      'the opaque directory holds only the upper layer\'s entries',
    );
    assert.ok(tsbak.some((l) => l.startsWith('srv/shared f 0644 0:0 8 n1')), 'a file over a hard link replaces that name only');
    assert.ok(tsbak.some((l) => l.startsWith('srv/shared-2 f 0640 33:33 6 n1')), 'the other link keeps its content');
  } finally {
    await dockerCli(['rmi', '-f', image]);
  }
});
