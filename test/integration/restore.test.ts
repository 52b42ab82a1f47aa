// Restore into a second engine (host B): images, container definitions, --start,
// non-destructive defaults, --overwrite, --dry-run, partial failure, archive target.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dockerCli, engineA, engineB, fixtures, integrationSkip, tmpDir } from '../helpers.js';
import { newRepo, tsbak, tsbakJson } from './support.js';
import { blobObjectPath, openTestRepository } from '../repo-access.js';
import { makeTar } from '../unit/support/archives.js';

const skip = integrationSkip();

interface Report {
  items: { kind: string; name: string; action: string; status: string; detail?: string }[];
}

const inspect = async (host: string, name: string) =>
  JSON.parse((await dockerCli(['inspect', name], { host })).stdout)[0] as {
    Config: { Env: string[]; Labels: Record<string, string>; Cmd: string[]; Image: string };
    HostConfig: { RestartPolicy: { Name: string } };
    State: { Running: boolean };
    Image: string;
  };

test('containers are re-created on another engine with their images, and started with --start', { skip }, async () => {
  const fx = fixtures();
  const tag = randomBytes(3).toString('hex');
  const web = `web-${tag}`;
  const job = `job-${tag}`;
  const run = await dockerCli(['run', '-d', '--name', web, '--network', 'none', '-e', 'MODE=prod', '-l', 'tier=front', '--restart', 'unless-stopped', fx.app.name, 'sleep', '600']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal((await dockerCli(['create', '--name', job, '--network', 'none', fx.tool.name])).code, 0);
  const repo = await newRepo();
  const backup = await tsbakJson<{ containers: { name: string; running: boolean }[]; snapshotId: string }>(['backup', '--container', web, '--container', job, '--repo', repo]);
  assert.deepEqual(backup.containers.map((c) => [c.name, c.running]), [[job, false], [web, true]]);

  const B = { DOCKER_HOST: engineB() };
  // Start B without the fixture images, whatever earlier tests left there.
  for (const name of [fx.app.name, fx.tool.name]) await dockerCli(['rmi', '-f', name], { host: engineB() });
  const plan = await tsbakJson<Report>(['restore', 'latest', '--dry-run', '--repo', repo], B);
  assert.ok(plan.items.every((i) => i.status === 'planned'), JSON.stringify(plan.items));
  assert.notEqual((await dockerCli(['inspect', web], { host: engineB() })).code, 0, 'dry run changed nothing');

  const restored = await tsbakJson<Report>(['restore', 'latest', '--start', '--repo', repo], B);
  assert.ok(restored.items.every((i) => i.status === 'done'), JSON.stringify(restored.items));
  const a = await inspect(engineA(), web);
  const b = await inspect(engineB(), web);
  assert.equal(b.Image, a.Image, 'same image id');
  assert.deepEqual(b.Config.Env, a.Config.Env);
  assert.deepEqual(b.Config.Labels, a.Config.Labels);
  assert.deepEqual(b.Config.Cmd, a.Config.Cmd);
  assert.equal(b.HostConfig.RestartPolicy.Name, 'unless-stopped');
  assert.equal(b.State.Running, true, 'the running container was started');
  assert.equal((await inspect(engineB(), job)).State.Running, false, 'the stopped one stays stopped');
  const out = await dockerCli(['start', '-a', job], { host: engineB() });
  assert.equal(out.stdout, 'hello from tool\n');

  // Again: everything exists, nothing is touched.
  const again = await tsbakJson<Report>(['restore', 'latest', '--repo', repo], B);
  assert.ok(again.items.every((i) => i.status === 'skipped'), JSON.stringify(again.items));
  const before = (await inspect(engineB(), web)) as unknown as { Id?: string };
  const replaced = await tsbakJson<Report>(['restore', 'latest', '--container', web, '--overwrite', '--repo', repo], B);
  assert.ok(replaced.items.some((i) => i.kind === 'container' && i.action === 'replace' && i.status === 'done'));
  const after = (await inspect(engineB(), web)) as unknown as { Id?: string };
  assert.notEqual(after.Id, before.Id, '--overwrite replaced the container');

  await dockerCli(['rm', '-f', web, job]);
  await dockerCli(['rm', '-f', web, job], { host: engineB() });
});

test('a missing blob fails only its image: exit 3, the rest is restored', { skip }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  await tsbakJson(['backup', '--image', fx.app.name, '--image', fx.tool.name, '--repo', repo]);
  const toolTop = JSON.parse((await dockerCli(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', fx.tool.name])).stdout) as string[];
  const hex = (toolTop[toolTop.length - 1] as string).slice(7);
  rmSync(await blobObjectPath(repo, `sha256:${hex}`));
  for (const name of [fx.app.name, fx.tool.name]) await dockerCli(['rmi', '-f', name], { host: engineB() });

  const r = await tsbak(['restore', 'latest', '--json', '--repo', repo], { DOCKER_HOST: engineB() });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`image ${fx.tool.name}.*lacks 1 blob\\(s\\) of this image \\(${hex.slice(0, 12)}\\)`));
  const report = JSON.parse(r.stdout) as { error: { exitCode: number } };
  assert.equal(report.error.exitCode, 3);
  const id = await dockerCli(['image', 'inspect', '--format', '{{.Id}}', fx.app.name], { host: engineB() });
  assert.equal(id.stdout.trim(), fx.app.id, 'the intact image was restored');
});

/** The offset of the first content byte of the first non-empty regular file in a tar. */
function firstFileByte(tar: Buffer): number {
  for (let at = 0; at + 512 <= tar.length; ) {
    const size = parseInt(tar.subarray(at + 124, at + 136).toString('ascii').replace(/\0.*$/, '').trim() || '0', 8);
    const type = tar[at + 156];
    if (size > 0 && (type === 0x30 || type === 0)) return at + 512;
    at += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error('no regular file with content in the layer');
}

test('restore into the engine does not hash layers, yet a damaged or wrong layer never loads: authentication checks the object, the engine the diffID', { skip }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  await tsbakJson(['backup', '--image', fx.tool.name, '--repo', repo]);
  const layers = JSON.parse((await dockerCli(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', fx.tool.name])).stdout) as string[];
  const hex = (layers[layers.length - 1] as string).slice(7);
  const file = await blobObjectPath(repo, `sha256:${hex}`);
  const original = readFileSync(file);
  // Sealing needs the repository's key: the test writes what only a key holder could.
  const { objects } = await openTestRepository(repo);
  const h = { type: 'blob' as const, name: file.slice(file.lastIndexOf('/') + 1) };
  const B = { DOCKER_HOST: engineB() };
  const attempt = async () => {
    await dockerCli(['rmi', '-f', fx.tool.name], { host: engineB() });
    return tsbak(['restore', 'latest', '--image', fx.tool.name, '--repo', repo], B);
  };
  try {
    // A damaged object: it fails authentication, named.
    const damaged = Buffer.from(original);
    damaged[damaged.length - 2] = (damaged[damaged.length - 2] as number) ^ 0xff;
    writeFileSync(file, damaged);
    let r = await attempt();
    assert.notEqual(r.code, 0, 'a damaged layer was loaded');
    assert.match(r.stderr, new RegExp(`blob sha256:${hex}: blob/${h.name} failed authentication`));
    // A sound object of other content of another size: refused as the archive is written, with a clear error.
    writeFileSync(file, objects.codec.encode(h, await makeTar([{ name: 'not-the-layer.txt', body: 'other content' }])));
    r = await attempt();
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /does not have the recorded size/);
    // A sound frame of the same size whose content differs in one byte: only the engine's diffID check can tell.
    const tar = Buffer.from(objects.codec.decode(h, original));
    tar[firstFileByte(tar)] ^= 0x01;
    writeFileSync(file, objects.codec.encode(h, tar));
    r = await attempt();
    assert.notEqual(r.code, 0, 'a wrong layer was loaded');
    assert.match(r.stderr, /diff ?id/i);
    assert.notEqual((await dockerCli(['image', 'inspect', fx.tool.name], { host: engineB() })).code, 0, 'no image was left behind');
  } finally {
    writeFileSync(file, original);
  }
  const r = await attempt();
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await dockerCli(['image', 'inspect', '--format', '{{.Id}}', fx.tool.name], { host: engineB() })).stdout.trim(), fx.tool.id);
});

test('--to archive:PATH writes a loadable archive and refuses to overwrite', { skip }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  await tsbakJson(['backup', '--image', fx.tool.name, '--repo', repo]);
  const file = join(tmpDir('tsbak-restore-archive-'), 'snap.tar');
  await tsbakJson(['restore', 'latest', '--to', `archive:${file}`, '--repo', repo]);
  const again = await tsbak(['restore', 'latest', '--to', `archive:${file}`, '--repo', repo]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /exists; --overwrite replaces it/);
  await dockerCli(['rmi', '-f', fx.tool.name], { host: engineB() });
  const load = await dockerCli(['load', '-i', file], { host: engineB() });
  assert.equal(load.code, 0, load.stderr);
  assert.deepEqual(readdirSync(join(repo, 'tmp')), []);
});
