// The spine end to end against a real engine: backup, dedup, export that other
// tools load, import of docker save output, and bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { dockerCli, fixtures, integrationSkip, tmpDir } from '../helpers.js';
import { newRepo, treeStats, tsbak, tsbakJson } from './support.js';

const skip = integrationSkip();

interface BackupJson {
  snapshotId: string;
  images: { names: string[]; id: string; layers: number }[];
  savedImages: number;
  newBlobs: number;
  newBytes: number;
}

test('backup --all snapshots every fixture; an unchanged second run adds no blob and calls no save', { skip }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  const first = await tsbakJson<BackupJson>(['backup', '--all', '--repo', repo]);
  const ids = first.images.map((i) => i.id);
  for (const img of [fx.base, fx.app, fx.tool]) assert.ok(ids.includes(img.id), `${img.name} is in the snapshot`);
  assert.ok(first.newBlobs > 0);
  const blobsBefore = treeStats(join(repo, 'blobs'));

  const second = await tsbakJson<BackupJson>(['backup', '--all', '--repo', repo]);
  assert.equal(second.savedImages, 0, 'no docker save when everything is stored');
  assert.equal(second.newBlobs, 0);
  assert.deepEqual(treeStats(join(repo, 'blobs')), blobsBefore);

  const list = await tsbakJson<{ id: string }[]>(['snapshots', '--repo', repo]);
  assert.deepEqual(list.map((s) => s.id), [first.snapshotId, second.snapshotId]);
  const shown = await tsbakJson<{ id: string; images: { names: string[] }[] }>(['show', second.snapshotId.slice(0, 10), '--repo', repo]);
  assert.equal(shown.id, second.snapshotId);
});

test('two images with a shared base: the second adds only its own layers', { skip }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  await tsbakJson<BackupJson>(['backup', '--image', fx.app.name, '--repo', repo]);
  const afterApp = treeStats(join(repo, 'blobs'));
  const tool = await tsbakJson<BackupJson>(['backup', '--image', fx.tool.name, '--repo', repo]);
  const afterTool = treeStats(join(repo, 'blobs'));
  const toolLayers = JSON.parse((await dockerCli(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', fx.tool.name])).stdout) as string[];
  const appLayers = JSON.parse((await dockerCli(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', fx.app.name])).stdout) as string[];
  const own = toolLayers.filter((l) => !appLayers.includes(l));
  assert.equal(tool.newBlobs, own.length + 1, 'its own layers and its config');
  assert.equal(afterTool.files - afterApp.files, own.length + 1);
  assert.equal(afterTool.bytes - afterApp.bytes, tool.newBytes, 'the repository grew by exactly the new blobs');
  // The shared base layer (busybox, ~1 MiB compressed) is far bigger than the tool's own small layers.
  assert.ok(tool.newBytes < 64 * 1024, `grew by ${tool.newBytes} bytes`);
});

test('export loads in docker, skopeo (both layouts), podman and umoci', { skip }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  await tsbakJson<BackupJson>(['backup', '--image', fx.app.name, '--image', fx.tool.name, '--repo', repo]);
  const dir = tmpDir('tsbak-export-');
  const archive = join(dir, 'app.tar');
  const exp = await tsbakJson<{ images: unknown[] }>(['export', 'latest', fx.app.name, '-o', archive, '--repo', repo]);
  assert.equal(exp.images.length, 1);

  // docker: remove the image, load the archive, run it.
  const rmi = await dockerCli(['rmi', fx.app.name]);
  assert.equal(rmi.code, 0, rmi.stderr);
  const load = await dockerCli(['load', '-i', archive]);
  assert.equal(load.code, 0, load.stderr);
  assert.match(load.stdout, new RegExp(`Loaded image: ${fx.app.name}`));
  const run = await dockerCli(['run', '--rm', '--network', 'none', fx.app.name]);
  assert.equal(run.stdout, 'hello from app\n', run.stderr);
  const id = await dockerCli(['image', 'inspect', '--format', '{{.Id}}', fx.app.name]);
  assert.equal(id.stdout.trim(), fx.app.id, 'same image ID after the round trip');

  // skopeo reads both layouts and agrees on the layers.
  const dockerSide = spawnSync('skopeo', ['inspect', `docker-archive:${archive}`], { encoding: 'utf8' });
  assert.equal(dockerSide.status, 0, dockerSide.stderr);
  const ociSide = spawnSync('skopeo', ['inspect', `oci-archive:${archive}`], { encoding: 'utf8' });
  assert.equal(ociSide.status, 0, ociSide.stderr);
  const layers = JSON.parse((await dockerCli(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', fx.app.name])).stdout) as string[];
  assert.deepEqual((JSON.parse(dockerSide.stdout) as { Layers: string[] }).Layers, layers);
  assert.deepEqual((JSON.parse(ociSide.stdout) as { Layers: string[] }).Layers, layers);

  // podman, in its own throwaway store.
  const podRoot = tmpDir('tsbak-podman-');
  const podman = spawnSync(
    'podman',
    ['--root', join(podRoot, 'root'), '--runroot', join(podRoot, 'run'), '--storage-driver', 'vfs', 'load', '-i', archive],
    { encoding: 'utf8' },
  );
  assert.equal(podman.status, 0, podman.stderr);
  assert.match(podman.stdout + podman.stderr, /Loaded image/);

  // umoci unpacks the OCI side to the same files docker sees.
  const layout = join(dir, 'layout');
  assert.equal(spawnSync('mkdir', ['-p', layout]).status, 0);
  assert.equal(spawnSync('tar', ['-xf', archive, '-C', layout]).status, 0);
  const bundle = join(dir, 'bundle');
  const umoci = spawnSync('umoci', ['unpack', '--image', `${layout}:1`, bundle], { encoding: 'utf8' });
  assert.equal(umoci.status, 0, umoci.stderr);
  assert.equal(readFileSync(join(bundle, 'rootfs', 'hello.txt'), 'utf8'), 'hello from app\n');
  const inDocker = await dockerCli(['run', '--rm', '--network', 'none', fx.app.name, 'find', '/app', '-print']);
  const inBundle = spawnSync('find', ['app', '-print'], { cwd: join(bundle, 'rootfs'), encoding: 'utf8' });
  assert.deepEqual(
    inBundle.stdout.trim().split('\n').map((p) => `/${p}`).sort(),
    inDocker.stdout.trim().split('\n').sort(),
  );
});

test('docker save output imports and re-exports to identical layer bytes', { skip }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  const dir = tmpDir('tsbak-import-');
  const saved = join(dir, 'saved.tar');
  const save = await dockerCli(['save', '-o', saved, fx.app.name, fx.tool.name]);
  assert.equal(save.code, 0, save.stderr);
  const imported = await tsbakJson<BackupJson>(['import', saved, '--repo', repo]);
  assert.deepEqual(imported.images.map((i) => i.id).sort(), [fx.app.id, fx.tool.id].sort());

  // Also through stdin, zstd-compressed: nothing new is stored.
  const zst = spawnSync('zstd', ['-q', '-c', saved], { maxBuffer: 1 << 30 });
  const again = await tsbakJsonStdin(['import', '-', '--repo', repo], zst.stdout);
  assert.equal(again.newBlobs, 0);

  const out = join(dir, 'exported.tar');
  await tsbakJson(['export', imported.snapshotId, '-o', out, '--repo', repo]);
  assert.deepEqual(layerHashes(out), layerHashes(saved));
});

async function tsbakJsonStdin(args: string[], input: Buffer): Promise<BackupJson> {
  const { runTsbak } = await import('../helpers.js');
  const r = await runTsbak([...args, '--json'], { input });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as BackupJson;
}

/** sha256 of every layer tar in an archive, per image, in manifest order. */
function layerHashes(archive: string): string[][] {
  const dir = tmpDir('tsbak-layers-');
  assert.equal(spawnSync('tar', ['-xf', archive, '-C', dir]).status, 0);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { RepoTags: string[]; Layers: string[] }[];
  return manifest
    .sort((a, b) => (a.RepoTags[0] ?? '').localeCompare(b.RepoTags[0] ?? ''))
    .map((m) => m.Layers.map((l) => createHash('sha256').update(readFileSync(join(dir, l))).digest('hex')));
}

test('bad input: missing engine, missing image, corrupt archive — clear errors, nothing left behind', { skip }, async () => {
  const fx = fixtures();
  const repo = await newRepo();

  const noEngine = await tsbak(['backup', '--all', '--repo', repo], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
  assert.equal(noEngine.code, 1);
  assert.match(noEngine.stderr, /cannot reach the Docker engine at unix:\/\/\/nonexistent\/docker.sock.*is dockerd running/);

  const noImage = await tsbak(['backup', '--image', 'no-such/image:404', '--repo', repo]);
  assert.equal(noImage.code, 1);
  assert.match(noImage.stderr, /image no-such\/image:404 does not exist in the engine/);

  // A docker save archive with one byte of a layer flipped.
  const dir = tmpDir('tsbak-bad-');
  const saved = join(dir, 'saved.tar');
  assert.equal((await dockerCli(['save', '-o', saved, fx.tool.name])).code, 0);
  const bytes = readFileSync(saved);
  // With its raw newline the text occurs only in the layer (JSON documents escape it).
  const marker = bytes.indexOf(Buffer.from('hello from tool\n'));
  assert.ok(marker > 0);
  bytes[marker] = 'j'.charCodeAt(0);
  writeFileSync(join(dir, 'corrupt.tar'), bytes);
  const corrupt = await tsbak(['import', join(dir, 'corrupt.tar'), '--repo', repo]);
  assert.equal(corrupt.code, 1);
  assert.match(corrupt.stderr, /layer \d of image tsbak-fixture\/tool:1 does not match the config/);

  writeFileSync(join(dir, 'short.tar'), bytes.subarray(0, Math.floor(bytes.length / 2)));
  const short = await tsbak(['import', join(dir, 'short.tar'), '--repo', repo]);
  assert.equal(short.code, 1);
  assert.match(short.stderr, /short.tar is truncated/);

  assert.equal(treeStats(join(repo, 'blobs')).files, 0, 'no blob published');
  assert.equal(treeStats(join(repo, 'snapshots')).files, 0, 'no snapshot written');
  assert.deepEqual(existsSync(join(repo, 'tmp')) ? readdirSync(join(repo, 'tmp')) : [], [], 'no staging left');
  const list = await tsbakJson<unknown[]>(['snapshots', '--repo', repo]);
  assert.deepEqual(list, []);
});
