import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { compress } from 'zstd-napi';
import { LocalBackend } from '../../src/repo/backend/local.js';
import { BlobIndex } from '../../src/repo/blob-index.js';
import { BlobStore } from '../../src/repo/blob-store.js';
import { LAYOUT_V1, keys, packIdOfKey } from '../../src/repo/format.js';
import { Codec } from '../../src/repo/codec.js';
import { Objects } from '../../src/repo/objects.js';
import { PackWriter, encodeTrailer, parsePack, readPackHeader, readPackedBlob } from '../../src/repo/packs.js';
import { sha256, type Digest } from '../../src/util/digest.js';
import { CorruptDataError } from '../../src/errors.js';

function repoDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsbak-packs-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function blob(i: number): { data: Buffer; digest: Digest; stored: Buffer } {
  const data = i % 2 ? randomBytes(10_000 + i) : Buffer.from(`text ${i} `.repeat(3000));
  return { data, digest: sha256(data), stored: compress(data, { compressionLevel: 3, checksumFlag: true }) };
}

async function packKeys(backend: Objects): Promise<string[]> {
  const out: string[] = [];
  for await (const k of backend.backend.list(keys.packsPrefix)) out.push(k);
  return out.sort();
}

test('packs: blobs are written into several packs, indexed, and read back by ranged reads', async () => {
  const root = repoDir();
  const backend = new Objects(new LocalBackend(root), LAYOUT_V1, new Codec(1));
  await backend.backend.create();
  const index = new BlobIndex();
  const published: string[] = [];
  const writer = new PackWriter(backend, index, { targetSize: 64 * 1024, onPublished: (id) => published.push(id) });
  const blobs = Array.from({ length: 40 }, (_, i) => blob(i));
  for (const b of blobs) await writer.add(b.digest, 'chunk', b.data.length, b.stored);
  // The same blob again (this run) is not written twice.
  await writer.add(blobs[0]!.digest, 'chunk', blobs[0]!.data.length, blobs[0]!.stored);
  assert.ok(writer.has(blobs[3]!.digest));
  await writer.finish();
  assert.equal(writer.stats.blobs, 40);
  assert.ok(writer.stats.packs >= 3, `${writer.stats.packs} packs`);
  assert.equal(published.length, writer.stats.packs);

  // Every pack is named by the sha256 of its bytes, and its trailer lists its blobs.
  const stored = await packKeys(backend);
  assert.equal(stored.length, writer.stats.packs);
  let listed = 0;
  for (const key of stored) {
    const id = packIdOfKey(key)!;
    const bytes = readFileSync(join(root, key));
    assert.equal(createHash('sha256').update(bytes).digest('hex'), id);
    const header = parsePack(bytes, key);
    assert.deepEqual(await readPackHeader(backend, id), header);
    listed += header.length;
  }
  assert.equal(listed, 40);

  // The index names packs only once they are published; flushed, it is loaded back with locations.
  await index.flush(backend);
  const files = readdirSync(join(root, 'index'));
  assert.equal(files.length, 1);
  const doc = JSON.parse(readFileSync(join(root, 'index', files[0]!), 'utf8')) as { blobs: unknown[]; packs: { id: string; blobs: unknown[] }[] };
  assert.deepEqual(doc.blobs, []);
  assert.equal(doc.packs.length, writer.stats.packs);
  const loaded = await BlobIndex.load(backend);
  const store = new BlobStore(backend, loaded);
  for (const b of blobs) {
    const entry = loaded.get(b.digest);
    assert.ok(entry?.pack, `blob ${b.digest} has a pack location`);
    assert.equal(entry.kind, 'chunk');
    assert.equal(entry.size, b.data.length);
    assert.ok((await readPackedBlob(backend, b.digest, entry.pack)).equals(b.data));
    assert.ok((await store.readBuffer(b.digest)).equals(b.data));
  }
  assert.equal(await store.stored(blobs[5]!.digest), true);
});

test('packs: a corrupted byte or a truncated pack is detected', async () => {
  const root = repoDir();
  const backend = new Objects(new LocalBackend(root), LAYOUT_V1, new Codec(1));
  await backend.backend.create();
  const index = new BlobIndex();
  const writer = new PackWriter(backend, index);
  const b = blob(1);
  await writer.add(b.digest, 'tree', b.data.length, b.stored);
  await writer.finish();
  const entry = index.get(b.digest)!;
  assert.equal(entry.kind, 'tree');
  const path = join(root, keys.pack(entry.pack!.id));
  const bytes = readFileSync(path);
  const bad = Buffer.from(bytes);
  bad[entry.pack!.offset + 100] = bad[entry.pack!.offset + 100]! ^ 0xff;
  writeFileSync(path, bad);
  await assert.rejects(readPackedBlob(backend, b.digest, entry.pack!), CorruptDataError);
  writeFileSync(path, bytes.subarray(0, 50));
  await assert.rejects(readPackedBlob(backend, b.digest, entry.pack!), /ends before byte/);
  await assert.rejects(readPackHeader(backend, entry.pack!.id), CorruptDataError);
});

test('packs: the trailer format', () => {
  const d = sha256('x');
  const trailer = encodeTrailer([{ digest: d, offset: 0, length: 5, size: 1, kind: 'chunk' }]);
  const json = trailer.subarray(0, trailer.length - 4);
  assert.equal(trailer.readUInt32LE(trailer.length - 4), json.length);
  assert.deepEqual(JSON.parse(json.toString()), { version: 1, blobs: [{ digest: d, offset: 0, length: 5, size: 1, kind: 'chunk' }] });
  const pack = Buffer.concat([Buffer.from('abcde'), trailer]);
  assert.equal(parsePack(pack).length, 1);
  // A header that points past the data is refused.
  const lying = Buffer.concat([Buffer.from('abc'), trailer]);
  assert.throws(() => parsePack(lying), /outside the pack/);
});
