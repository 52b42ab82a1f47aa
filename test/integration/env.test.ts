// Proves the test environment itself: each component answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authRegistry, dockerCli, engineA, engineB, fixtures, integrationSkip, registry, s3 } from '../helpers.js';

const skip = integrationSkip();

test('engine A answers docker version', { skip }, async () => {
  const r = await dockerCli(['version', '--format', '{{.Server.APIVersion}}'], { host: engineA() });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), /^1\.\d+$/);
});

test('engine B is a different engine with the base image only', { skip }, async () => {
  const fx = fixtures();
  const r = await dockerCli(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'], { host: engineB() });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), [fx.base.name]);
});

test('the fixture app image runs and prints its greeting', { skip }, async () => {
  const fx = fixtures();
  const r = await dockerCli(['run', '--rm', '--network', 'none', fx.app.name]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello from app\n');
  const ids = await dockerCli(['image', 'inspect', '--format', '{{.Id}}', fx.app.name, fx.tool.name]);
  assert.deepEqual(ids.stdout.trim().split('\n'), [fx.app.id, fx.tool.id]);
});

test('app and tool share the base layer', { skip }, async () => {
  const fx = fixtures();
  const layers = async (ref: string) =>
    JSON.parse((await dockerCli(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref])).stdout) as string[];
  const [base, app, tool] = await Promise.all([layers(fx.base.name), layers(fx.app.name), layers(fx.tool.name)]);
  assert.equal(base.length, 1);
  assert.equal(app[0], base[0]);
  assert.equal(tool[0], base[0]);
  assert.notDeepEqual(app.slice(1), tool.slice(1));
});

test('the open registry answers /v2/', { skip }, async () => {
  const res = await fetch(`http://${registry()}/v2/`);
  assert.equal(res.status, 200);
});

test('the htpasswd registry wants credentials and accepts the test user', { skip }, async () => {
  const { hostPort, user, password } = authRegistry();
  assert.equal((await fetch(`http://${hostPort}/v2/`)).status, 401);
  const basic = Buffer.from(`${user}:${password}`).toString('base64');
  const res = await fetch(`http://${hostPort}/v2/`, { headers: { authorization: `Basic ${basic}` } });
  assert.equal(res.status, 200);
});

test('s3rver lists the test bucket', { skip }, async () => {
  const { endpoint, bucket } = s3();
  // s3rver does not check signatures on unsigned requests; path-style addressing.
  const res = await fetch(`${endpoint}/${bucket}?list-type=2`);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /<ListBucketResult[\s>]/);
});
