// The built-in runtime's image store: blobs copied from another source land only when
// the source's verification passes; names move between images; records need their blobs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ImageStore } from '../../src/runtime/builtin/image-store.js';
import { RuntimeRoot } from '../../src/runtime/builtin/root.js';
import { verifier, type BlobSource } from '../../src/repo/blob-store.js';
import { sha256, type Digest } from '../../src/util/digest.js';

function sourceOf(blobs: Map<Digest, Buffer>, corrupt = false): BlobSource {
  return {
    size: (d) => blobs.get(d)?.length ?? 0,
    stored: async (d) => blobs.has(d),
    readBuffer: async (d) => blobs.get(d) as Buffer,
    open: async (d) => Readable.from([corrupt ? Buffer.from('tampered') : (blobs.get(d) as Buffer)]).pipe(verifier(d, `blob ${d}`)),
  };
}

function withStore(fn: (store: ImageStore, root: RuntimeRoot) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsbak-store-'));
    try {
      const root = RuntimeRoot.locate(dir);
      await fn(new ImageStore(root), root);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('copyFrom keeps a verified blob once and drops a corrupt one', withStore(async (store, root) => {
  const data = Buffer.from('layer bytes');
  const d = sha256(data);
  const blobs = new Map([[d, data]]);
  await assert.rejects(store.copyFrom(sourceOf(blobs, true), d), /does not match its digest/);
  assert.equal(store.has(d), false, 'a corrupt copy is not published');
  assert.deepEqual(readdirSync(root.blobTmp), [], 'and leaves nothing staged');
  assert.equal(await store.copyFrom(sourceOf(blobs), d), true);
  assert.equal(await store.copyFrom(sourceOf(blobs), d), false, 'a second copy is skipped');
  assert.deepEqual(await store.readBuffer(d), data);
}));

test('images: a record needs its blobs; a name moves to the image that takes it', withStore(async (store) => {
  const layer = Buffer.from('a layer');
  const c1 = Buffer.from('{"config":1}');
  const c2 = Buffer.from('{"config":2}');
  const blobs = new Map([[sha256(layer), layer], [sha256(c1), c1], [sha256(c2), c2]]);
  const record = (config: Buffer, names: string[]) => ({ names, repoDigests: [], config: sha256(config), configSize: config.length, layers: [{ diffID: sha256(layer), size: layer.length }] });
  await assert.rejects(store.addImage(record(c1, ['app:1'])), /missing from the runtime's store/);
  for (const d of blobs.keys()) await store.copyFrom(sourceOf(blobs), d);
  await store.addImage(record(c1, ['app:1']));
  await store.addImage(record(c2, ['app:1', 'app:2']));
  assert.deepEqual((await store.find('app:1'))?.id, sha256(c2), 'app:1 now names the second image');
  assert.deepEqual((await store.find(sha256(c1)))?.names, [], 'and no longer the first');
  assert.deepEqual((await store.find('docker.io/library/app:2'))?.id, sha256(c2), 'full and familiar names match');
  assert.equal((await store.find(sha256(c2).slice(7, 15)))?.id, sha256(c2), 'an id prefix finds it');
  await store.removeImage(sha256(c1));
  assert.equal(store.has(sha256(c1)), false, 'its config goes');
  assert.equal(store.has(sha256(layer)), true, 'a layer another image uses stays');
}));
