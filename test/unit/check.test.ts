import { access } from '../repo-access.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importArchive } from '../../src/ops/image-import.js';
import { checkRepository } from '../../src/repo/check.js';
import { reachableBlobs } from '../../src/ops/reachable.js';
import { Repository } from '../../src/repo/repository.js';
import { LocalBackend } from '../../src/repo/backend/local.js';
import { fakeImage, legacySaveArchive, tempRepository } from './support/archives.js';

function blobFiles(repoDir: string): string[] {
  const root = join(repoDir, 'blobs');
  return readdirSync(root).flatMap((d) => readdirSync(join(root, d)).map((f) => join(root, d, f)));
}

test('check finds nothing wrong in a fresh repository, then finds a flipped byte and a missing blob', async (t) => {
  const { dir, cleanup } = await tempRepository();
  t.after(cleanup);
  const repoDir = join(dir, 'repo');
  const open = () => Repository.open(new LocalBackend(repoDir), access);
  const img = await fakeImage('chk', 2);
  await importArchive(await open(), Readable.from([await legacySaveArchive([{ image: img, tags: ['chk:1'] }])]), 'x.tar', []);

  const clean = await checkRepository(await open(), { readData: 1, reachable: reachableBlobs });
  assert.deepEqual(clean.errors, []);
  assert.equal(clean.blobsRead, 3);

  const [first, second] = blobFiles(repoDir);
  const bytes = readFileSync(first as string);
  bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0xff;
  writeFileSync(first as string, bytes);
  const structural = await checkRepository(await open(), { readData: 0, reachable: reachableBlobs });
  assert.deepEqual(structural.errors, [], 'a structure check does not read data');
  const corrupt = await checkRepository(await open(), { readData: 1, reachable: reachableBlobs });
  assert.equal(corrupt.errors.length, 1);
  assert.match(corrupt.errors[0] as string, /blob sha256:/);

  rmSync(second as string);
  const missing = await checkRepository(await open(), { readData: 0, reachable: reachableBlobs });
  assert.match(missing.errors.join('\n'), /listed in the index but missing from storage/);
});
