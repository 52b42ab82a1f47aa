import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archivePath, digestOfBlobPath, linkTarget } from '../../src/image/archive/paths.js';

test('archive paths are normalised', () => {
  assert.equal(archivePath('./manifest.json', 'a'), 'manifest.json');
  assert.equal(archivePath('blobs/sha256/', 'a'), 'blobs/sha256');
  assert.equal(archivePath('x/../y', 'a'), 'y');
});

test('hostile paths are refused', () => {
  assert.throws(() => archivePath('../etc/passwd', 'a'), /escapes the archive root/);
  assert.throws(() => archivePath('x/../../y', 'a'), /escapes the archive root/);
  assert.throws(() => archivePath('/etc/passwd', 'a'), /absolute path/);
  assert.throws(() => linkTarget('a/layer.tar', '../../../x', false, 'a'), /escapes/);
  assert.throws(() => linkTarget('a/layer.tar', '/x', false, 'a'), /absolute/);
});

test('symlinks resolve relative to their directory, hard links to the root', () => {
  assert.equal(linkTarget('aa/layer.tar', '../bb/layer.tar', false, 'a'), 'bb/layer.tar');
  assert.equal(linkTarget('aa/layer.tar', 'bb/layer.tar', true, 'a'), 'bb/layer.tar');
});

test('blob paths name their digest', () => {
  const hex = 'ab'.repeat(32);
  assert.equal(digestOfBlobPath(`blobs/sha256/${hex}`), `sha256:${hex}`);
  assert.equal(digestOfBlobPath('blobs/sha256/short'), undefined);
});
