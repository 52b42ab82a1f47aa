import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalName, familiarName, fullName, parseReference } from '../../src/image/reference.js';

test('Docker Hub names get docker.io/library and latest', () => {
  assert.deepEqual(parseReference('busybox'), { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' });
  assert.equal(fullName(parseReference('app:1')), 'docker.io/library/app:1');
  assert.equal(familiarName(parseReference('docker.io/library/app:1')), 'app:1');
  assert.equal(familiarName(parseReference('tsbak-fixture/app:1')), 'tsbak-fixture/app:1');
});

test('a first component with a dot, a port or localhost is a registry', () => {
  assert.deepEqual(parseReference('localhost:5000/team/app:2'), { registry: 'localhost:5000', repository: 'team/app', tag: '2' });
  assert.deepEqual(parseReference('127.0.0.1:5000/app'), { registry: '127.0.0.1:5000', repository: 'app', tag: 'latest' });
  assert.equal(familiarName(parseReference('reg.example/x/y:z')), 'reg.example/x/y:z');
});

test('digests are kept and suppress the default tag', () => {
  const d = 'sha256:' + 'a'.repeat(64);
  assert.deepEqual(parseReference(`app@${d}`), { registry: 'docker.io', repository: 'library/app', digest: d });
});

test('canonical names compare familiar and full forms', () => {
  assert.equal(canonicalName('app:1'), canonicalName('docker.io/library/app:1'));
  assert.notEqual(canonicalName('app:1'), canonicalName('app:2'));
  assert.equal(canonicalName('Bad Name'), undefined);
});

test('malformed references are usage errors', () => {
  assert.throws(() => parseReference('UPPER/case'), /invalid image reference/);
  assert.throws(() => parseReference('app@sha256:xyz'), /bad digest/);
  assert.throws(() => parseReference('app:bad tag'), /bad tag/);
});
