// Restore into a second engine (host B): images, container definitions, --start,
// non-destructive defaults, --overwrite, --dry-run, partial failure, archive target.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { dockerCli, engineA, engineB, fixtures, integrationSkip, tmpDir } from '../helpers.js';
import { newRepo, tsbak, tsbakJson } from './support.js';

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
  rmSync(join(repo, 'blobs', 'sha256', hex.slice(0, 2), hex));
  for (const name of [fx.app.name, fx.tool.name]) await dockerCli(['rmi', '-f', name], { host: engineB() });

  const r = await tsbak(['restore', 'latest', '--json', '--repo', repo], { DOCKER_HOST: engineB() });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`image ${fx.tool.name}.*lacks 1 blob\\(s\\) of this image \\(${hex.slice(0, 12)}\\)`));
  const report = JSON.parse(r.stdout) as { error: { exitCode: number } };
  assert.equal(report.error.exitCode, 3);
  const id = await dockerCli(['image', 'inspect', '--format', '{{.Id}}', fx.app.name], { host: engineB() });
  assert.equal(id.stdout.trim(), fx.app.id, 'the intact image was restored');
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
