// Pure parts of the registry transport: registry:// URLs and the target rule, loopback
// detection, WWW-Authenticate parsing, Docker config credentials, error bodies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  apiHost,
  formatLocation,
  isLoopbackHost,
  parseRegistryUrl,
  registrySource,
  registryTarget,
  targetFor,
} from '../../src/image/registry/reference.js';
import { dockerConfigCredentials, parseChallenges } from '../../src/image/registry/auth.js';
import { describeErrorBody } from '../../src/image/registry/errors.js';
import { RegistryClient } from '../../src/image/registry/client.js';
import { planRegistryPush } from '../../src/ops/registry-push.js';
import type { StoredSnapshot } from '../../src/repo/snapshot.js';
import type { ImageRecord } from '../../src/image/model.js';
import { UsageError } from '../../src/errors.js';
import { ParallelGzip, PGZIP_BLOCK } from '../../src/image/registry/pgzip.js';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCipheriv, createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';

const DIGEST = `sha256:${'a'.repeat(64)}`;

test('registry URLs: host, repository, tag, digest', () => {
  assert.deepEqual(parseRegistryUrl('registry://reg.example:5000/team'), { host: 'reg.example:5000', repository: 'team' });
  assert.deepEqual(parseRegistryUrl('registry://REG.example/team/app:v1.2'), { host: 'reg.example', repository: 'team/app', tag: 'v1.2' });
  assert.deepEqual(parseRegistryUrl(`registry://127.0.0.1:5000/a/b@${DIGEST}`), { host: '127.0.0.1:5000', repository: 'a/b', digest: DIGEST });
  assert.deepEqual(parseRegistryUrl('registry://localhost:5000'), { host: 'localhost:5000', repository: '' });
  assert.deepEqual(parseRegistryUrl('registry://[::1]:5000/x/'), { host: '[::1]:5000', repository: 'x' });
  for (const bad of ['reg/x', 'registry://', 'registry://reg/Team', 'registry://reg/x:bad:tag', 'registry://reg/x@sha256:12', 'registry://reg:99999/x', 'registry://reg:5000:tag']) {
    assert.throws(() => parseRegistryUrl(bad), UsageError, bad);
  }
});

test('sources default to latest; targets refuse digests; formatLocation round-trips', () => {
  assert.equal(registrySource('registry://reg:5000/team/app').tag, 'latest');
  assert.equal(registrySource(`registry://reg:5000/team/app@${DIGEST}`).tag, undefined);
  assert.throws(() => registrySource('registry://reg:5000'), /names no repository/);
  assert.throws(() => registryTarget(`registry://reg:5000/team/app@${DIGEST}`), /has a digest/);
  assert.equal(formatLocation(registrySource('registry://reg:5000/team/app:1')), 'reg:5000/team/app:1');
});

test('the target rule: namespace + last path component + tag, or the exact repository:tag', () => {
  const ns = registryTarget('registry://reg.example:5000/team');
  assert.deepEqual(targetFor(ns, 'tsbak-fixture/app:1'), { repository: 'team/app', tag: '1' });
  assert.deepEqual(targetFor(ns, 'localhost:5000/deep/path/web:2.0'), { repository: 'team/web', tag: '2.0' });
  assert.deepEqual(targetFor(ns, 'busybox'), { repository: 'team/busybox', tag: 'latest' });
  assert.deepEqual(targetFor(registryTarget('registry://reg.example'), 'a/b:c'), { repository: 'b', tag: 'c' });
  assert.deepEqual(targetFor(registryTarget('registry://reg.example/x/y:z'), 'a/b:c'), { repository: 'x/y', tag: 'z' });
  assert.equal(targetFor(ns, 'Not A Name'), undefined);
});

test('loopback hosts get plain HTTP, others HTTPS unless insecure; Docker Hub is served by registry-1', () => {
  for (const h of ['127.0.0.1:5000', '127.1.2.3', 'localhost', 'localhost:80', '[::1]:5000', 'reg.localhost']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['128.0.0.1', '10.0.0.1:5000', 'reg.example', '127.0.0.1.nip.io', '[::2]:5000']) assert.ok(!isLoopbackHost(h), h);
  assert.equal(new RegistryClient('127.0.0.1:5000').baseUrl, 'http://127.0.0.1:5000');
  assert.equal(new RegistryClient('reg.example:5000').baseUrl, 'https://reg.example:5000');
  assert.equal(new RegistryClient('reg.example:5000', { insecure: true }).baseUrl, 'http://reg.example:5000');
  assert.equal(new RegistryClient('docker.io').baseUrl, 'https://registry-1.docker.io');
  assert.equal(apiHost('ghcr.io'), 'ghcr.io');
});

test('WWW-Authenticate: Bearer with quoted parameters, Basic, several challenges', () => {
  assert.deepEqual(
    parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="insufficient_scope"'),
    [
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push', error: 'insufficient_scope' },
      },
    ],
  );
  assert.deepEqual(parseChallenges('Basic realm="tsbak \\"test\\""'), [{ scheme: 'basic', params: { realm: 'tsbak "test"' } }]);
  assert.deepEqual(
    parseChallenges('Basic realm=x, Bearer realm="r", service=s'),
    [
      { scheme: 'basic', params: { realm: 'x' } },
      { scheme: 'bearer', params: { realm: 'r', service: 's' } },
    ],
  );
  assert.deepEqual(parseChallenges(''), []);
});

test('Docker config credentials: auths by host (any URL form), base64 auth or username/password', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbak-dockercfg-'));
  try {
    assert.equal(await dockerConfigCredentials('reg:5000', dir), undefined, 'no config.json');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        auths: {
          'https://reg.example:5000/v1/': { auth: b64('alice:pa:ss') },
          'other.example': { username: 'bob', password: 'pw' },
          'https://index.docker.io/v1/': { auth: b64('hub:tok') },
          'bad.example': { auth: b64('nocolon') },
        },
      }),
    );
    assert.deepEqual(await dockerConfigCredentials('reg.example:5000', dir), { username: 'alice', password: 'pa:ss' });
    assert.deepEqual(await dockerConfigCredentials('OTHER.example', dir), { username: 'bob', password: 'pw' });
    assert.deepEqual(await dockerConfigCredentials('docker.io', dir), { username: 'hub', password: 'tok' });
    assert.equal(await dockerConfigCredentials('reg.example:5001', dir), undefined);
    await assert.rejects(dockerConfigCredentials('bad.example', dir), /not base64 of user:password/);
    writeFileSync(join(dir, 'config.json'), '{ not json');
    await assert.rejects(dockerConfigCredentials('reg.example:5000', dir), /cannot read registry credentials from .*config\.json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('registry error bodies: code, message and detail of each entry', () => {
  assert.deepEqual(
    describeErrorBody('{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:11"}]}'),
    { text: 'MANIFEST_BLOB_UNKNOWN: blob unknown to registry (sha256:11)', codes: ['MANIFEST_BLOB_UNKNOWN'] },
  );
  assert.deepEqual(describeErrorBody('<html>bad gateway</html>'), { text: '<html>bad gateway</html>', codes: [] });
  assert.deepEqual(describeErrorBody(''), { text: '', codes: [] });
});

/** sha256 of the pinned input's output, compressor version 2 (compress.ts). */
const PINNED_PGZIP = '2a839d02978409314a30ca4d802c9fde11aab5fb1fb06d211322e097ed776e6a';

async function pgzip(parts: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(parts), new ParallelGzip(1), new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
  return Buffer.concat(out);
}

test('parallel gzip: any gunzip reads it, the bytes do not depend on input chunking, incompressible blocks are stored', async () => {
  const text = Buffer.from(Array.from({ length: 120_000 }, (_, i) => `${i} alpha beta ${(i * 7) % 97}\n`).join(''));
  const random = createCipheriv('aes-256-ctr', Buffer.alloc(32, 1), Buffer.alloc(16, 2)).update(Buffer.alloc(PGZIP_BLOCK + 4321));
  const data = Buffer.concat([text, random, text]);
  const whole = await pgzip([data]);
  assert.ok(gunzipSync(whole).equals(data));
  const pieces: Buffer[] = [];
  for (let o = 0, n = 1; o < data.length; o += n, n = (n * 31 + 7) % 200_000 || 1) pieces.push(data.subarray(o, o + n));
  const chunked = await pgzip(pieces);
  assert.equal(createHash('sha256').update(chunked).digest('hex'), createHash('sha256').update(whole).digest('hex'));
  // The random megabyte costs about its own size (stored), the text shrinks.
  assert.ok(whole.length < random.length + text.length, `${whole.length} bytes`);
  for (const size of [0, 1, PGZIP_BLOCK, 2 * PGZIP_BLOCK, PGZIP_BLOCK + 1]) {
    const b = Buffer.alloc(size, 'x');
    assert.ok(gunzipSync(await pgzip([b])).equals(b), `size ${size}`);
  }
  // Stored blocks at the end (the final one carries BFINAL), of every length class.
  for (const size of [PGZIP_BLOCK, PGZIP_BLOCK + 65535, 3 * 65535, 2 * PGZIP_BLOCK + 100_000]) {
    const b = Buffer.concat([text.subarray(0, 5000), random.subarray(0, size)]);
    assert.ok(gunzipSync(await pgzip([b])).equals(b), `text then ${size} random bytes`);
  }
});

test('parallel gzip: the output bytes are pinned (a change here must bump COMPRESSOR_VERSION in compress.ts)', async () => {
  const text = Buffer.from(Array.from({ length: 150_000 }, (_, i) => `${i} alpha beta ${(i * 7) % 97}\n`).join(''));
  const random = createCipheriv('aes-256-ctr', Buffer.alloc(32, 3), Buffer.alloc(16, 4)).update(Buffer.alloc(2 * PGZIP_BLOCK + 999));
  const out = await pgzip([text, random, text.subarray(0, 70_000)]);
  assert.equal(createHash('sha256').update(out).digest('hex'), PINNED_PGZIP);
});

test('push plan: every name of every image under the namespace; one tag takes one image', () => {
  const img = (names: string[], hex: string): ImageRecord => ({ names, repoDigests: [], config: `sha256:${hex.repeat(64)}`, configSize: 2, layers: [] });
  const stored = {
    id: 'f'.repeat(64),
    snapshot: { images: [img(['tsbak-fixture/app:1', 'app:latest', 'other/app:1'], 'a'), img(['tool:2'], 'b'), img([], 'c')] },
  } as unknown as StoredSnapshot;
  const plan = planRegistryPush(stored, 'registry://reg.example:5000/team');
  assert.deepEqual(
    plan.map((p) => p.targets),
    [
      [
        { repository: 'team/app', tag: '1' },
        { repository: 'team/app', tag: 'latest' },
      ],
      [{ repository: 'team/tool', tag: '2' }],
      [],
    ],
  );
  assert.throws(() => planRegistryPush(stored, 'registry://reg.example:5000/team/x:1'), /names one tag but 3 images are selected/);
  assert.deepEqual(planRegistryPush(stored, 'registry://reg.example:5000/team/x:1', ['tool:2'])[0]!.targets, [{ repository: 'team/x', tag: '1' }]);
  assert.throws(() => planRegistryPush(stored, 'registry://reg.example:5000/team', ['nope:1']), /image nope:1 is not in snapshot/);
});
