import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, PassThrough } from 'node:stream';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { zstdCompressor } from '../../src/util/compression.js';
import { readImageArchive } from '../../src/image/archive/reader.js';
import { writeImageArchive } from '../../src/image/archive/writer.js';
import { commitArchiveBlobs } from '../../src/ops/commit.js';
import { readAll } from '../../src/util/streams.js';
import { sha256 } from '../../src/util/digest.js';
import { fakeImage, legacySaveArchive, makeTar, ociArchive, tempRepository } from './support/archives.js';

async function zstd(buf: Buffer): Promise<Buffer> {
  const c = zstdCompressor(buf.length);
  const out = readAll(c, 1 << 30, 'zstd');
  c.end(buf);
  return out;
}

test('a legacy docker save archive is read, verified and written back with identical layers', async (t) => {
  const { repo, cleanup } = await tempRepository();
  t.after(cleanup);
  const base = await fakeImage('base', 2);
  const app = await fakeImage('app', 3);
  const archive = await legacySaveArchive([
    { image: base, tags: ['base:1'] },
    { image: app, tags: ['app:1', 'registry.example/app:1'] },
  ]);
  const blobs = await repo.blobs();
  const result = await readImageArchive(Readable.from([archive]), blobs, 'test archive');
  assert.equal(result.images.length, 2);
  assert.deepEqual(result.images[1]?.names, ['app:1', 'registry.example/app:1']);
  assert.deepEqual(result.images[1]?.layers.map((l) => l.diffID), app.diffIDs);
  const stats = await commitArchiveBlobs(blobs, result);
  assert.equal(stats.newBlobs, 2 + 3 + 2);

  const out = new PassThrough();
  const collected = readAll(out, 1 << 30, 'export');
  await writeImageArchive(result.images, blobs, out);
  const exported = await collected;
  // The export is itself a readable archive with the same images and layers.
  const again = await readImageArchive(Readable.from([exported]), blobs, 'exported archive');
  assert.deepEqual(again.images.map((i) => i.config), [base.configDigest, app.configDigest]);
  assert.deepEqual(again.images[1]?.layers.map((l) => l.diffID), app.diffIDs);
  assert.equal(again.blobs.length, 0, 'everything is already in the repository');
});

test('zstd- and gzip-compressed archives are read', async (t) => {
  const { repo, cleanup } = await tempRepository();
  t.after(cleanup);
  const img = await fakeImage('z', 1);
  const archive = await legacySaveArchive([{ image: img, tags: ['z:1'] }]);
  const result = await readImageArchive(Readable.from([await zstd(archive)]), await repo.blobs(), 'zstd archive');
  assert.equal(result.images[0]?.config, img.configDigest);
});

test('an OCI archive with gzip layers stores them by diffID', async (t) => {
  const { repo, cleanup } = await tempRepository();
  t.after(cleanup);
  const img = await fakeImage('oci', 2);
  const blobs = await repo.blobs();
  const result = await readImageArchive(Readable.from([await ociArchive(img, 'docker.io/library/oci:7')]), blobs, 'oci archive');
  assert.deepEqual(result.images[0]?.names, ['oci:7']);
  assert.deepEqual(result.images[0]?.layers.map((l) => l.diffID), img.diffIDs);
  await commitArchiveBlobs(blobs, result);
  const layer = await readAll(await blobs.open(img.diffIDs[0] as `sha256:${string}`), 1 << 20, 'layer');
  assert.equal(sha256(layer), img.diffIDs[0]);
});

test('a layer whose content does not match its diff_id is refused and nothing is kept', async (t) => {
  const { repo, dir, cleanup } = await tempRepository();
  t.after(cleanup);
  const img = await fakeImage('bad', 2);
  img.layers[1] = await makeTar([{ name: 'tampered.txt', body: 'not what the config says' }]);
  const archive = await legacySaveArchive([{ image: img, tags: ['bad:1'] }]);
  await assert.rejects(readImageArchive(Readable.from([archive]), await repo.blobs(), 'bad archive'), /layer 2 of image bad:1 does not match the config/);
  assert.deepEqual(readdirSync(join(dir, 'repo', 'tmp')), [], 'staged blobs are discarded');
});

test('truncated, empty and manifest-less archives give clear errors', async (t) => {
  const { repo, cleanup } = await tempRepository();
  t.after(cleanup);
  const blobs = await repo.blobs();
  const img = await fakeImage('t', 1);
  const archive = await legacySaveArchive([{ image: img, tags: ['t:1'] }]);
  await assert.rejects(readImageArchive(Readable.from([archive.subarray(0, 1000)]), blobs, 'short.tar'), /short.tar is truncated/);
  await assert.rejects(readImageArchive(Readable.from([Buffer.alloc(0)]), blobs, 'empty.tar'), /empty.tar is empty/);
  const noManifest = await makeTar([{ name: 'hello.txt', body: 'hi' }]);
  await assert.rejects(readImageArchive(Readable.from([noManifest]), blobs, 'plain.tar'), /neither manifest.json nor index.json/);
  const missingLayer = await makeTar([
    { name: 'manifest.json', body: JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['nope/layer.tar'] }]) },
  ]);
  await assert.rejects(readImageArchive(Readable.from([missingLayer]), blobs, 'm.tar'), /config of x:1 "c.json" is missing/);
});

test('an archive with a path escaping its root is refused', async (t) => {
  const { repo, cleanup } = await tempRepository();
  t.after(cleanup);
  const hostile = await makeTar([{ name: '../../etc/cron.d/x', body: 'boom' }]);
  await assert.rejects(readImageArchive(Readable.from([hostile]), await repo.blobs(), 'hostile.tar'), /escapes the archive root/);
});
