// Consistent volume backup against the real engine and real cgroups: the torn-file
// test, v1 and v2 freezers, stop mode, hooks, restore rules, and the reflink path
// on an XFS loop mount.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { dockerCli, fixtures, integrationSkip, tmpDir } from '../helpers.js';
import { newRepo, tsbak, tsbakJson } from './support.js';

const skip = integrationSkip();
const id = () => randomBytes(3).toString('hex');

interface VolumeJson {
  name: string;
  method: string;
  quiesce: { container: string; mode: string; windowMs?: number; cgroup?: string }[];
}
interface BackupJson {
  volumes: VolumeJson[];
  failures: { item: string; error: string }[];
}

async function mountpoint(volume: string): Promise<string> {
  const r = await dockerCli(['volume', 'inspect', '--format', '{{.Mountpoint}}', volume]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** Restore one volume of the latest snapshot under a new name and return the new volume's directory. */
async function restoreAs(repo: string, volume: string, as: string): Promise<string> {
  await tsbakJson(['restore', 'latest', '--volume', `${volume}:${as}`, '--repo', repo]);
  return mountpoint(as);
}

test('a file rewritten in place: copies without quiescing tear, frozen ones never do', { skip, timeout: 300_000 }, async () => {
  const fx = fixtures();
  const vol = `torn-${id()}`;
  const name = `writer-${id()}`;
  // Each round rewrites the whole 16 MiB file with one write of a new byte value.
  const script =
    'dd if=/dev/zero bs=1M count=16 2>/dev/null | tr "\\0" a > /src/a; dd if=/dev/zero bs=1M count=16 2>/dev/null | tr "\\0" b > /src/b; ' +
    'cp /src/a /data/f; while true; do dd if=/src/a of=/data/f bs=16M count=1 conv=notrunc 2>/dev/null; dd if=/src/b of=/data/f bs=16M count=1 conv=notrunc 2>/dev/null; done';
  const run = await dockerCli(['run', '-d', '--name', name, '--network', 'none', '--tmpfs', '/src', '-v', `${vol}:/data`, fx.base.name, 'sh', '-c', script]);
  assert.equal(run.code, 0, run.stderr);
  const repo = await newRepo();
  const torn = async (mode: string, i: number): Promise<boolean> => {
    const r = await tsbakJson<BackupJson>(['backup', '--volume', vol, '--quiesce', mode, '--repo', repo]);
    assert.deepEqual(r.failures, []);
    const dir = await restoreAs(repo, vol, `${vol}-${mode}-${i}`);
    const data = readFileSync(join(dir, 'f'));
    assert.equal(data.length, 16 << 20);
    return data.includes(0x61) && data.includes(0x62);
  };
  let tornPlain = 0;
  for (let i = 0; i < 10 && tornPlain === 0; i++) if (await torn('none', i)) tornPlain++;
  assert.ok(tornPlain > 0, 'copies taken while the writer runs catch it mid-write (the test can fail)');
  let tornFrozen = 0;
  for (let i = 0; i < 20; i++) if (await torn('freeze', i)) tornFrozen++;
  assert.equal(tornFrozen, 0, `${tornFrozen} of 20 frozen backups were torn`);
  // A freeze that outlasts --max-freeze is cut short, and that volume is not kept.
  const bounded = await tsbak(['backup', '--volume', vol, '--max-freeze', '1', '--repo', repo]);
  assert.equal(bounded.code, 1, bounded.stderr);
  // Cut short while freezing or while frozen, depending on the machine's speed: either way it says so.
  assert.match(bounded.stderr, new RegExp(`container \`${name}\` (was thawed early .* exceeded its limit of 1 ms|could not be frozen: .*freeze limit of 1 ms)`));
  const state = await dockerCli(['inspect', '--format', '{{.State.Status}}', name]);
  assert.equal(state.stdout.trim(), 'running');
  await dockerCli(['rm', '-f', name]);
});

test('both freezer interfaces (v1 freezer.state, v2 cgroup.freeze) hold the container for milliseconds', { skip }, async () => {
  const fx = fixtures();
  const vol = `fz-${id()}`;
  const name = `busy-${id()}`;
  assert.equal((await dockerCli(['run', '-d', '--name', name, '--network', 'none', '-v', `${vol}:/data`, fx.base.name, 'sh', '-c', 'while true; do date > /data/now; done'])).code, 0);
  const repo = await newRepo();
  for (const cgroup of ['v1', 'v2']) {
    const r = await tsbakJson<BackupJson>(['backup', '--volume', vol, '--cgroup', cgroup, '--repo', repo]);
    const q = r.volumes[0]?.quiesce[0];
    assert.equal(q?.container, name);
    assert.equal(q?.mode, 'freeze');
    assert.equal(q?.cgroup, cgroup);
    assert.ok((q?.windowMs ?? Infinity) < 1000, `window ${q?.windowMs} ms`);
    assert.equal(r.volumes[0]?.method, 'precopy', 'ext4 has no reflinks: the pre-copy path');
  }
  await dockerCli(['rm', '-f', name]);
});

test('--quiesce stop stops and restarts the container; hooks run inside it', { skip }, async () => {
  const fx = fixtures();
  const vol = `hk-${id()}`;
  const name = `db-${id()}`;
  const run = await dockerCli([
    'run', '-d', '--name', name, '--network', 'none', '--stop-timeout', '1', '-v', `${vol}:/data`,
    '-l', 'tsbak.pre-backup=echo dumped > /data/dump.txt',
    '-l', 'tsbak.post-backup=rm /data/dump.txt',
    fx.base.name, 'sleep', '600',
  ]);
  assert.equal(run.code, 0, run.stderr);
  const started = async () => (await dockerCli(['inspect', '--format', '{{.State.StartedAt}}', name])).stdout.trim();
  const before = await started();
  const repo = await newRepo();
  const r = await tsbakJson<BackupJson>(['backup', '--volume', vol, '--quiesce', 'stop', '--repo', repo]);
  assert.deepEqual(r.volumes[0]?.quiesce, [{ container: name, mode: 'stop' }]);
  assert.notEqual(await started(), before, 'it was restarted');
  assert.equal((await dockerCli(['inspect', '--format', '{{.State.Running}}', name])).stdout.trim(), 'true');
  const dir = await restoreAs(repo, vol, `${vol}-copy`);
  assert.equal(readFileSync(join(dir, 'dump.txt'), 'utf8'), 'dumped\n', 'the pre-backup hook ran before the copy');
  const live = await dockerCli(['exec', name, 'ls', '/data']);
  assert.doesNotMatch(live.stdout, /dump.txt/, 'the post-backup hook ran after');

  // A failing hook fails the volume, names the container, and the run exits non-zero.
  const bad = `bad-${id()}`;
  await dockerCli(['run', '-d', '--name', bad, '--network', 'none', '-v', `${vol}-b:/data`, '-l', 'tsbak.pre-backup=exit 7', fx.base.name, 'sleep', '600']);
  const failed = await tsbak(['backup', '--volume', `${vol}-b`, '--repo', repo]);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, new RegExp(`tsbak.pre-backup hook \`exit 7\` in container ${bad} exited with 7`));
  await dockerCli(['rm', '-f', name, bad]);
});

test('volume restore: into a new name, refused while in use, skipped when not empty, replaced with --overwrite', { skip }, async () => {
  const fx = fixtures();
  const vol = `rs-${id()}`;
  assert.equal((await dockerCli(['run', '--rm', '--network', 'none', '-v', `${vol}:/data`, fx.base.name, 'sh', '-c', 'echo one > /data/a; mkdir /data/d; echo two > /data/d/b'])).code, 0);
  const repo = await newRepo();
  await tsbakJson(['backup', '--volume', vol, '--repo', repo]);
  const copy = await restoreAs(repo, vol, `${vol}-new`);
  assert.equal(readFileSync(join(copy, 'd', 'b'), 'utf8'), 'two\n');

  const user = `user-${id()}`;
  await dockerCli(['run', '-d', '--name', user, '--network', 'none', '-v', `${vol}:/data`, fx.base.name, 'sleep', '600']);
  const inUse = await tsbak(['restore', 'latest', '--volume', vol, '--overwrite', '--repo', repo]);
  assert.equal(inUse.code, 1);
  assert.match(inUse.stderr, new RegExp(`volume ${vol} is in use by running container ${user}`));
  await dockerCli(['rm', '-f', user]);

  writeFileSync(join(await mountpoint(vol), 'a'), 'changed\n');
  const skipped = await tsbakJson<{ items: { status: string; detail?: string }[] }>(['restore', 'latest', '--volume', vol, '--repo', repo]);
  assert.equal(skipped.items[0]?.status, 'skipped');
  assert.match(skipped.items[0]?.detail ?? '', /not empty; --overwrite replaces/);
  assert.equal(readFileSync(join(await mountpoint(vol), 'a'), 'utf8'), 'changed\n');
  await tsbakJson(['restore', 'latest', '--volume', vol, '--overwrite', '--repo', repo]);
  assert.equal(readFileSync(join(await mountpoint(vol), 'a'), 'utf8'), 'one\n');
});

test('on an XFS loop mount with reflinks the clone path is taken', { skip: skip || !xfsAvailable(), timeout: 120_000 }, async (t) => {
  const fx = fixtures();
  const dir = tmpDir('tsbak-xfs-');
  const img = join(dir, 'xfs.img');
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  assert.equal(spawnSync('truncate', ['-s', '320M', img]).status, 0);
  const mkfs = spawnSync('mkfs.xfs', ['-q', '-m', 'reflink=1', img], { encoding: 'utf8' });
  assert.equal(mkfs.status, 0, mkfs.stderr);
  const mount = spawnSync('mount', ['-o', 'loop', img, mnt], { encoding: 'utf8' });
  if (mount.status !== 0) return t.skip(`cannot mount a loop device here: ${mount.stderr}`);
  t.after(() => spawnSync('umount', ['-l', mnt]));
  mkdirSync(join(mnt, 'vol'));
  const vol = `xfs-${id()}`;
  assert.equal((await dockerCli(['volume', 'create', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${join(mnt, 'vol')}`, vol])).code, 0);
  const name = `xw-${id()}`;
  await dockerCli(['run', '-d', '--name', name, '--network', 'none', '-v', `${vol}:/data`, fx.base.name, 'sh', '-c', 'dd if=/dev/urandom of=/data/big bs=1M count=20 2>/dev/null; while true; do date > /data/now; done']);
  await new Promise((r) => setTimeout(r, 1500));
  const repo = await newRepo();
  const r = await tsbakJson<BackupJson>(['backup', '--volume', vol, '--repo', repo]);
  assert.equal(r.volumes[0]?.method, 'reflink');
  assert.ok((r.volumes[0]?.quiesce[0]?.windowMs ?? Infinity) < 1000);
  assert.deepEqual(spawnSync('sh', ['-c', `ls -a ${mnt} | grep -c tsbak`], { encoding: 'utf8' }).stdout.trim(), '0', 'the clone is gone');
  await dockerCli(['rm', '-f', name]);
  const copy = await restoreAs(repo, vol, `${vol}-copy`);
  assert.equal(readFileSync(join(copy, 'big')).length, 20 << 20);
  await dockerCli(['volume', 'rm', vol]);
});

function xfsAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v mkfs.xfs']).status === 0 && process.getuid?.() === 0;
}
