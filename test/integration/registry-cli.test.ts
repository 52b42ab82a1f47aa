// The registry through the CLI: restore --to registry://, backup --image registry://,
// credentials from --registry-user + --registry-password-stdin.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { authRegistry, dockerCli, fixtures, integrationSkip, registry, runTsbak } from '../helpers.js';
import { newRepo, tsbak, tsbakJson } from './support.js';

const skip = integrationSkip();

interface Report {
  items: { kind: string; name: string; action: string; status: string; detail?: string }[];
}

test('restore --to registry:// pushes, a second push uploads nothing, and the image pulls and runs', { skip }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  await tsbakJson(['backup', '--image', fx.app.name, '--repo', repo]);
  const ns = `cli${randomBytes(3).toString('hex')}`;
  const target = `registry://${registry()}/${ns}`;
  const plan = await tsbakJson<Report>(['restore', 'latest', '--to', target, '--dry-run', '--repo', repo]);
  assert.equal(plan.items[0]?.status, 'planned');
  assert.match(plan.items[0]?.detail ?? '', new RegExp(`${registry()}/${ns}/app:1`));
  const first = await tsbakJson<Report>(['restore', 'latest', '--to', target, '--repo', repo]);
  assert.equal(first.items[0]?.status, 'done', JSON.stringify(first.items));
  assert.match(first.items[0]?.detail ?? '', /[1-9]\d* blob\(s\) uploaded/);
  // The compressed digests outlive the process, so the next run HEADs instead of compressing again.
  if (process.getuid?.() === 0) {
    const cache = JSON.parse(readFileSync('/var/cache/tsbak/compressed-digests.json', 'utf8')) as { entries: Record<string, unknown> };
    const layers = JSON.parse((await dockerCli(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', fx.app.name])).stdout) as string[];
    for (const l of layers) assert.ok(cache.entries[`${l} gzip`], `cached compressed digest of ${l}`);
  }
  const second = await tsbakJson<Report>(['restore', 'latest', '--to', target, '--repo', repo]);
  assert.match(second.items[0]?.detail ?? '', /0 blob\(s\) uploaded/);
  const ref = `${registry()}/${ns}/app:1`;
  const pull = await dockerCli(['pull', ref]);
  assert.equal(pull.code, 0, pull.stderr);
  const run = await dockerCli(['run', '--rm', '--network', 'none', ref]);
  assert.equal(run.stdout, 'hello from app\n');
  await dockerCli(['rmi', ref]);

  // And back: a backup straight from the registry.
  const pulled = await tsbakJson<{ images: { layers: number; error?: string }[] }>(['backup', '--image', `registry://${ref}`, '--repo', repo]);
  assert.equal(pulled.images[0]?.error, undefined);
  const layers = JSON.parse((await dockerCli(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', fx.app.name])).stdout) as string[];
  assert.equal(pulled.images[0]?.layers, layers.length);
});

test('registry credentials from --registry-user and --registry-password-stdin', { skip }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  await tsbakJson(['backup', '--image', fx.tool.name, '--repo', repo]);
  const { hostPort, user, password } = authRegistry();
  const target = `registry://${hostPort}/secure${randomBytes(3).toString('hex')}`;
  const denied = await tsbak(['restore', 'latest', '--to', target, '--repo', repo]);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /requires credentials for secure\w+\/tool: pass --registry-user/);
  const wrong = await runTsbak(['restore', 'latest', '--to', target, '--repo', repo, '--registry-user', user, '--registry-password-stdin'], { input: 'nope\n' });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /refused the credentials/);
  const right = await runTsbak(['restore', 'latest', '--to', target, '--repo', repo, '--registry-user', user, '--registry-password-stdin', '--json'], {
    input: `${password}\n`,
  });
  assert.equal(right.code, 0, right.stderr);
  assert.equal((JSON.parse(right.stdout) as Report).items[0]?.status, 'done');
});
