// The S3 backend against s3rver: a whole backup/export cycle, a multipart
// upload, and a dead endpoint.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dockerCli, fixtures, integrationSkip, s3, tmpDir } from '../helpers.js';
import { tsbak, tsbakJson } from './support.js';
import { S3Backend, parseS3Url } from '../../src/repo/backend/s3.js';

const skip = integrationSkip();

test('an S3 repository takes a backup and gives back a loadable export', { skip }, async () => {
  const fx = fixtures();
  const { endpoint, bucket } = s3();
  const repo = `s3://${bucket}/cycle-${randomBytes(4).toString('hex')}`;
  const env = { AWS_ENDPOINT_URL_S3: endpoint };
  assert.equal((await tsbak(['init', '--repo', repo], env)).code, 0);
  const first = await tsbakJson<{ newBlobs: number }>(['backup', '--image', fx.tool.name, '--repo', repo], env);
  assert.ok(first.newBlobs > 0);
  const second = await tsbakJson<{ newBlobs: number; savedImages: number }>(['backup', '--image', fx.tool.name, '--repo', repo], env);
  assert.equal(second.newBlobs, 0);
  assert.equal(second.savedImages, 0);
  const file = join(tmpDir('tsbak-s3-'), 'tool.tar');
  await tsbakJson(['export', 'latest', '-o', file, '--repo', repo], env);
  const inspect = await dockerCli(['load', '-i', file]);
  assert.equal(inspect.code, 0, inspect.stderr);
  const r = await tsbak(['snapshots', '--repo', repo], env);
  assert.doesNotMatch(r.stderr, /NodeVersionSupportWarning|AWS SDK/, 'the SDK notice does not reach the user');
});

test('a large object goes up in parts and comes back intact', { skip }, async () => {
  const { endpoint, bucket } = s3();
  const backend = new S3Backend(parseS3Url(`s3://${bucket}/multipart-${randomBytes(4).toString('hex')}`, endpoint));
  const dir = tmpDir('tsbak-s3-mp-');
  const data = randomBytes(40 << 20);
  const file = join(dir, 'big');
  writeFileSync(file, data);
  await backend.writeFile('data/big', file);
  assert.equal((await backend.stat('data/big'))?.size, data.length);
  const back = await backend.readBuffer('data/big');
  assert.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(data).digest('hex'));
  const range = await backend.readRange('data/big', 1000, 100);
  assert.deepEqual(range, data.subarray(1000, 1100));
  const keys: string[] = [];
  for await (const k of backend.list('data')) keys.push(k);
  assert.deepEqual(keys, ['data/big']);
});

test('a dead S3 endpoint is a clear error', { skip }, async () => {
  const r = await tsbak(['snapshots', '--repo', 's3://nobucket/x', '--s3-endpoint', 'http://127.0.0.1:9']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /S3 endpoint http:\/\/127.0.0.1:9 is not reachable/);
});
