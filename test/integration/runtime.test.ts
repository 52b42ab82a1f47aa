// The built-in runtime end to end, against the real kernel: snapshots taken from
// Docker restored into it and run, its lifecycle with no CLI running, a stack moved
// from Docker into it, consistent backups of its volumes, and the bad inputs it must
// refuse. The container's view (namespaces, capabilities, /dev, fds) is compared with
// runc's in runtime-launcher.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dockerCli, engineA, engineB, fixtures, integrationSkip, registry, tmpDir } from '../helpers.js';
import { newRepo, tsbak, tsbakJson } from './support.js';
import { CHANGES_DOCKERFILE, docker, dockerExport, listing } from './support/rootfs-oracle.js';
import { buildLayer } from '../unit/support/hostile-layers.js';

const skip = integrationSkip() || (process.getuid?.() !== 0 ? 'the built-in runtime needs root' : false);
const id = () => randomBytes(3).toString('hex');

interface PsEntry {
  id: string;
  name: string;
  status: string;
  pid?: number;
  exitCode?: number;
  signal?: string;
}
interface RestoreJson {
  items: { kind: string; name: string; action: string; status: string; detail?: string }[];
}

/** A fresh runtime root and a tsbak bound to it. */
function runtimeAt(): { root: string; run: typeof tsbak; json: <T>(args: string[]) => Promise<T> } {
  const root = tmpDir('tsbak-rt-');
  const env = { TSBAK_RUNTIME_ROOT: root };
  return { root, run: (args, extra = {}) => tsbak(args, { ...env, ...extra }), json: <T>(args: string[]) => tsbakJson<T>(args, env) };
}

async function ps(rt: ReturnType<typeof runtimeAt>): Promise<PsEntry[]> {
  return rt.json<PsEntry[]>(['runtime', 'ps', '-a']);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Removes every container of a runtime root (tests leave nothing running). */
async function cleanup(rt: ReturnType<typeof runtimeAt>): Promise<void> {
  const all = await ps(rt).catch(() => [] as PsEntry[]);
  if (all.length > 0) await rt.run(['runtime', 'rm', '-f', ...all.map((c) => c.id)]);
}

test('snapshots of Docker images run in the runtime as in docker run; the rootfs equals docker export', { skip, timeout: 300_000 }, async () => {
  const fx = fixtures();
  const changes = `tsbak-test/rt-changes:${id()}`;
  const ctx = tmpDir('tsbak-rt-ctx-');
  writeFileSync(path.join(ctx, 'Dockerfile'), CHANGES_DOCKERFILE(fx.base.name));
  await docker(['build', '--network', 'none', '--force-rm', '-q', '-t', changes, ctx]);
  const repo = await newRepo();
  await tsbakJson(['backup', '--image', fx.app.name, '--image', fx.tool.name, '--image', changes, '--repo', repo]);
  const rt = runtimeAt();
  try {
    const restored = await rt.json<RestoreJson>(['restore', 'latest', '--to', 'runtime', '--repo', repo]);
    assert.deepEqual(restored.items.filter((i) => i.status !== 'done'), []);
    const images = await rt.json<{ names: string[]; id: string }[]>(['runtime', 'images']);
    assert.deepEqual(images.map((i) => i.id).sort(), [fx.app.id, fx.tool.id, (await docker(['image', 'inspect', '-f', '{{.Id}}', changes])).trim()].sort());
    for (const image of [fx.app.name, fx.tool.name]) {
      const ours = await rt.run(['runtime', 'run', '--rm', image]);
      const theirs = await dockerCli(['run', '--rm', '--network', 'none', image]);
      assert.equal(ours.code, 0, ours.stderr);
      assert.equal(ours.stdout, theirs.stdout, `${image} prints what docker run prints`);
    }
    const ours = await rt.run(['runtime', 'run', '--rm', fx.app.name, 'sh', '-c', 'cat /app/data/link-to-a; stat -c %a /app/data/sub/b.txt; echo err >&2; exit 7']);
    const theirs = await dockerCli(['run', '--rm', '--network', 'none', fx.app.name, 'sh', '-c', 'cat /app/data/link-to-a; stat -c %a /app/data/sub/b.txt; echo err >&2; exit 7']);
    assert.equal(ours.code, 7);
    assert.equal(theirs.code, 7);
    assert.equal(ours.stdout, theirs.stdout);
    assert.equal(ours.stderr, theirs.stderr);
    // The image whose upper layer deletes, replaces and re-creates files.
    assert.equal((await rt.run(['runtime', 'run', '--name', 'cmp', changes, 'true'])).code, 0);
    const cmp = (await ps(rt)).find((c) => c.name === 'cmp');
    assert.ok(cmp);
    const rootfs = path.join(rt.root, 'containers', cmp.id, 'bundle', 'rootfs');
    assert.deepEqual(listing(rootfs), listing(await dockerExport(changes, tmpDir('tsbak-rt-export-'))));
  } finally {
    await cleanup(rt);
    await dockerCli(['rmi', changes]);
  }
});

test('run -d outlives the CLI; exit codes 3 and 137 are recorded with no CLI running; stop escalates to SIGKILL', { skip, timeout: 120_000 }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  await tsbakJson(['backup', '--image', fx.base.name, '--repo', repo]);
  const rt = runtimeAt();
  try {
    await rt.json(['restore', 'latest', '--to', 'runtime', '--repo', repo]);
    const start = Date.now();
    const run = await rt.run(['runtime', 'run', '-d', '--name', 'sleeper', fx.base.name, 'sh', '-c', 'echo out; echo err >&2; exec sleep 600']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout.trim(), /^[0-9a-f]{64}$/);
    console.log(`# run -d returned in ${Date.now() - start} ms`);
    const sleeper = (await ps(rt)).find((c) => c.name === 'sleeper');
    assert.equal(sleeper?.status, 'running', 'ps (a new CLI process) sees it running');
    assert.ok(sleeper.pid && existsSync(`/proc/${sleeper.pid}`));
    const logs = await rt.run(['runtime', 'logs', 'sleeper']);
    assert.equal(logs.stdout, 'out\n');
    assert.equal(logs.stderr, 'err\n');

    assert.equal((await rt.run(['runtime', 'run', '-d', '--name', 'three', fx.base.name, 'sh', '-c', 'sleep 0.3; exit 3'])).code, 0);
    assert.equal((await rt.run(['runtime', 'run', '-d', '--name', 'killed', fx.base.name, 'sleep', '600'])).code, 0);
    const killed = (await ps(rt)).find((c) => c.name === 'killed');
    assert.ok(killed?.pid);
    process.kill(killed.pid, 'SIGKILL');
    const exited = await waitFor('both to exit', async () => {
      const all = await ps(rt);
      const three = all.find((c) => c.name === 'three');
      const k = all.find((c) => c.name === 'killed');
      return three?.status === 'exited' && k?.status === 'exited' ? { three, k } : undefined;
    });
    assert.equal(exited.three.exitCode, 3);
    assert.equal(exited.k.exitCode, 137);
    assert.equal(exited.k.signal, 'SIGKILL');

    // sleep as pid 1 has no SIGTERM handler, so the kernel drops SIGTERM: stop must escalate.
    const t0 = Date.now();
    const stop = await rt.run(['runtime', 'stop', '-t', '1', 'sleeper']);
    const took = Date.now() - t0;
    assert.equal(stop.code, 0, stop.stderr);
    console.log(`# stop -t 1 of a pid 1 that ignores SIGTERM took ${took} ms`);
    // The CLI's own start (0.3–1 s here, more under load) is in the figure; the kill comes at the 1 s timeout.
    assert.ok(took >= 1000 && took < 10_000, `${took} ms`);
    const after = (await ps(rt)).find((c) => c.name === 'sleeper');
    assert.equal(after?.exitCode, 137);
    // unless-stopped: `up` starts it again only when it was not stopped by hand.
    assert.equal((await rt.run(['runtime', 'run', '-d', '--name', 'svc', '--restart', 'unless-stopped', fx.base.name, 'sh', '-c', 'trap "exit 0" TERM; sleep 600 & wait'])).code, 0);
    const svc = (await ps(rt)).find((c) => c.name === 'svc');
    process.kill(svc!.pid!, 'SIGKILL');
    await waitFor('svc to exit', async () => ((await ps(rt)).find((c) => c.name === 'svc')?.status === 'exited' ? true : undefined));
    const up = await rt.json<{ started: string[] }>(['runtime', 'up']);
    assert.deepEqual(up.started, ['svc']);
    const t1 = Date.now();
    assert.equal((await rt.run(['runtime', 'stop', 'svc'])).code, 0);
    assert.ok(Date.now() - t1 < 5000, 'a pid 1 that handles SIGTERM stops without waiting for the timeout');
    assert.deepEqual((await rt.json<{ started: string[] }>(['runtime', 'up'])).started, [], 'stopped by hand: up leaves it');
    const rm = await rt.run(['runtime', 'rm', 'three']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal((await ps(rt)).some((c) => c.name === 'three'), false);
  } finally {
    await cleanup(rt);
  }
});

test('a stack backed up from Docker (two containers, one shared volume) runs in the runtime with the same data, and back on Docker', { skip, timeout: 300_000 }, async () => {
  const fx = fixtures();
  const tag = id();
  const shared = `shared-${tag}`;
  const [web, worker] = [`web-${tag}`, `worker-${tag}`];
  const common = ['--network', 'none', '--restart', 'unless-stopped'];
  const w = await dockerCli(['run', '-d', '--name', web, ...common, '-e', 'ROLE=web', '-v', `${shared}:/srv`, fx.app.name, 'sh', '-c', '[ -f /srv/index.html ] || { echo page > /srv/index.html; dd if=/dev/urandom of=/srv/blob bs=64k count=16 2>/dev/null; }; exec sleep 600']);
  assert.equal(w.code, 0, w.stderr);
  const k = await dockerCli(['run', '-d', '--name', worker, ...common, '-e', 'ROLE=worker', '-v', `${shared}:/work:ro`, fx.tool.name, 'sleep', '600']);
  assert.equal(k.code, 0, k.stderr);
  await sleep(1000);
  const sum = async (c: string, dir: string) => (await dockerCli(['exec', c, 'sh', '-c', `cd ${dir} && md5sum index.html blob`])).stdout;
  const before = await sum(web, '/srv');
  const repo = await newRepo();
  const rt = runtimeAt();
  try {
    await tsbakJson(['backup', '--container', web, '--container', worker, '--repo', repo]);
    const restored = await rt.json<RestoreJson>(['restore', 'latest', '--to', 'runtime', '--start', '--repo', repo]);
    assert.deepEqual(restored.items.filter((i) => i.status === 'failed'), []);
    assert.deepEqual(restored.items.filter((i) => i.kind === 'container' && i.action === 'start').map((i) => i.name).sort(), [web, worker].sort());
    const all = await ps(rt);
    for (const c of [web, worker]) assert.equal(all.find((x) => x.name === c)?.status, 'running', `${c} runs in the runtime`);
    const exec = async (c: string, cmd: string) => {
      const r = await rt.run(['runtime', 'exec', c, cmd]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    assert.equal(await exec(web, 'cd /srv && md5sum index.html blob'), before);
    assert.equal(await exec(worker, 'cd /work && md5sum index.html blob'), before, 'the second container sees the shared volume');
    assert.equal((await exec(web, 'echo $ROLE')).trim(), 'web', 'the environment came along');
    const ro = await rt.run(['runtime', 'exec', worker, 'touch /work/x']);
    assert.notEqual(ro.code, 0, 'the read-only mount stayed read-only');
    // And back: a snapshot of the runtime restores into Docker (engine B).
    const back = await rt.json<{ containers: unknown[]; volumes: { name: string }[] }>(['backup', '--engine', 'runtime', '--container', web, '--container', worker, '--repo', repo]);
    assert.equal(back.containers.length, 2);
    assert.deepEqual(back.volumes.map((v) => v.name), [shared]);
    const B = engineB();
    const intoB = await tsbakJson<RestoreJson>(['restore', 'latest', '--start', '--repo', repo], { DOCKER_HOST: B });
    assert.deepEqual(intoB.items.filter((i) => i.status === 'failed'), []);
    const onB = await dockerCli(['exec', worker, 'sh', '-c', 'cd /work && md5sum index.html blob'], { host: B });
    assert.equal(onB.stdout, before, 'the runtime snapshot runs on Docker again with the same data');
    const inspectB = JSON.parse((await dockerCli(['inspect', web], { host: B })).stdout)[0];
    const inspectA = JSON.parse((await dockerCli(['inspect', web])).stdout)[0];
    assert.deepEqual(inspectB.Config.Env, inspectA.Config.Env);
    assert.deepEqual(inspectB.Config.Cmd, inspectA.Config.Cmd);
    assert.deepEqual(inspectB.HostConfig.RestartPolicy, inspectA.HostConfig.RestartPolicy);
  } finally {
    await cleanup(rt);
    for (const host of [engineA(), engineB()]) {
      await dockerCli(['rm', '-f', web, worker], { host });
      await dockerCli(['volume', 'rm', shared], { host });
    }
  }
});

test('backup --engine runtime freezes its containers: a file rewritten in place is never torn', { skip, timeout: 300_000 }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  await tsbakJson(['backup', '--image', fx.base.name, '--repo', repo]);
  const rt = runtimeAt();
  try {
    await rt.json(['restore', 'latest', '--to', 'runtime', '--repo', repo]);
    // One write per round, as in volumes.test.ts: a freeze stops the writer between two writes, so a
    // frozen copy holds whole rounds. (A writer that takes many writes per round is caught mid-round by
    // a freeze as by a crash: measured 7 of 10 torn. That is crash consistency, not a tsbak fault.)
    const script =
      'dd if=/dev/zero bs=1M count=16 2>/dev/null | tr "\\0" a > /tmp/a; dd if=/dev/zero bs=1M count=16 2>/dev/null | tr "\\0" b > /tmp/b; ' +
      'cp /tmp/a /data/f; while true; do dd if=/tmp/a of=/data/f bs=16M count=1 conv=notrunc 2>/dev/null; dd if=/tmp/b of=/data/f bs=16M count=1 conv=notrunc 2>/dev/null; done';
    const hook = ['-l', 'tsbak.pre-backup=date +%s%N > /data/hook-ran'];
    assert.equal((await rt.run(['runtime', 'run', '-d', '--name', 'writer', ...hook, '-v', 'wvol:/data', fx.base.name, 'sh', '-c', script])).code, 0);
    await sleep(1500);
    const torn = async (mode: string): Promise<boolean> => {
      const r = await rt.json<{ volumes: { quiesce: { mode: string; windowMs?: number; cgroup?: string }[] }[]; failures: unknown[] }>([
        'backup', '--engine', 'runtime', '--volume', 'wvol', '--quiesce', mode, '--repo', repo,
      ]);
      assert.deepEqual(r.failures, []);
      if (mode === 'freeze') {
        const q = r.volumes[0]?.quiesce[0];
        assert.equal(q?.mode, 'freeze');
        assert.ok(q.windowMs !== undefined && q.windowMs < 1000, `frozen for ${q.windowMs} ms`);
      }
      const target = `copy-${id()}`;
      await rt.json(['restore', 'latest', '--to', 'runtime', '--volume', `wvol:${target}`, '--repo', repo]);
      assert.ok(existsSync(path.join(rt.root, 'volumes', target, '_data', 'hook-ran')), 'the pre-backup hook ran inside the container (runtime exec)');
      const data = readFileSync(path.join(rt.root, 'volumes', target, '_data', 'f'));
      assert.equal(data.length, 16 << 20);
      return data.includes(0x61) && data.includes(0x62);
    };
    let tornPlain = 0;
    for (let i = 0; i < 10 && tornPlain === 0; i++) if (await torn('none')) tornPlain++;
    assert.ok(tornPlain > 0, 'plain copies catch the writer mid-round (the test can fail)');
    let tornFrozen = 0;
    for (let i = 0; i < 10; i++) if (await torn('freeze')) tornFrozen++;
    assert.equal(tornFrozen, 0, `${tornFrozen} of 10 frozen backups were torn`);
    assert.equal((await ps(rt)).find((c) => c.name === 'writer')?.status, 'running', 'the writer runs on, thawed');
  } finally {
    await cleanup(rt);
  }
});

test('images come into the runtime from a registry too (runtime pull), verified, and run', { skip, timeout: 120_000 }, async () => {
  const fx = fixtures();
  const repo = await newRepo();
  await tsbakJson(['backup', '--image', fx.tool.name, '--repo', repo]);
  const ns = `rt${id()}`;
  await tsbakJson(['restore', 'latest', '--to', `registry://${registry()}/${ns}`, '--repo', repo]);
  const rt = runtimeAt();
  try {
    const pulled = await rt.json<{ images: { id: string; names: string[] }[] }>(['runtime', 'pull', `registry://${registry()}/${ns}/tool:1`]);
    assert.equal(pulled.images[0]?.id, fx.tool.id, 'the same image id as on the engine');
    const ran = await rt.run(['runtime', 'run', '--rm', `${registry()}/${ns}/tool:1`]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'hello from tool\n');
    const missing = await rt.run(['runtime', 'pull', `registry://${registry()}/${ns}/nope:1`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope/);
  } finally {
    await cleanup(rt);
  }
});

/** A docker save archive of one image from layer tars; `arch` and `cmd` go into its config. */
async function archiveOf(layers: Buffer[], options: { name: string; arch?: string; cmd?: string[] }): Promise<string> {
  const { createHash } = await import('node:crypto');
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const dir = tmpDir('tsbak-rt-archive-');
  const x = path.join(dir, 'x');
  mkdirSync(x);
  const layerNames: string[] = [];
  for (const l of layers) {
    mkdirSync(path.join(x, sha(l)));
    writeFileSync(path.join(x, sha(l), 'layer.tar'), l);
    layerNames.push(`${sha(l)}/layer.tar`);
  }
  const config = Buffer.from(
    JSON.stringify({ architecture: options.arch ?? 'amd64', os: 'linux', config: { Cmd: options.cmd ?? ['sh'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha(l)}`) } }),
  );
  writeFileSync(path.join(x, `${sha(config)}.json`), config);
  writeFileSync(path.join(x, 'manifest.json'), JSON.stringify([{ Config: `${sha(config)}.json`, RepoTags: [options.name], Layers: layerNames }]));
  const archive = path.join(dir, 'image.tar');
  const r = spawnSync('tar', ['-cf', archive, '-C', x, '.']);
  assert.equal(r.status, 0, String(r.stderr));
  return archive;
}

/** The fixture base's one layer, from docker save. */
async function baseLayer(): Promise<Buffer> {
  const dir = tmpDir('tsbak-rt-base-');
  await docker(['save', '-o', path.join(dir, 'b.tar'), fixtures().base.name]);
  spawnSync('tar', ['-xf', path.join(dir, 'b.tar'), '-C', dir]);
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
  return readFileSync(path.join(dir, manifest[0]!.Layers[0]!));
}

test('bad input: a hostile layer, another architecture, a missing entrypoint, a symlinked volume path, no launcher, not root', { skip, timeout: 300_000 }, async () => {
  const rt = runtimeAt();
  const canary = tmpDir('tsbak-rt-canary-');
  writeFileSync(path.join(canary, 'file'), 'untouched');
  const canaryBefore = statSync(path.join(canary, 'file')).mtimeMs;
  try {
    const base = await baseLayer();
    // A layer that climbs out of the root loads (its digests are right) and is refused when a container's rootfs is unpacked.
    const hostile = await buildLayer([{ name: `../../../../../../..${canary}/pwned`, type: 'file', content: 'x' }]);
    const hostileArchive = await archiveOf([base, hostile], { name: 'hostile:1' });
    const load = await rt.run(['runtime', 'load', hostileArchive]);
    if (load.code === 0) {
      const run = await rt.run(['runtime', 'run', '--rm', 'hostile:1', 'true']);
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /escapes the root filesystem; refused/);
      assert.equal(readdirSync(path.join(rt.root, 'containers')).length, 0, 'the half-made container is removed');
    } else assert.match(load.stderr, /escapes|refused/);
    assert.deepEqual(readdirSync(canary), ['file'], 'nothing written outside the root');
    assert.equal(readFileSync(path.join(canary, 'file'), 'utf8'), 'untouched');
    assert.equal(statSync(path.join(canary, 'file')).mtimeMs, canaryBefore);

    const arm = await archiveOf([base], { name: 'arm:1', arch: 'arm64' });
    assert.equal((await rt.run(['runtime', 'load', arm])).code, 0);
    const armRun = await rt.run(['runtime', 'run', '--rm', 'arm:1']);
    assert.equal(armRun.code, 1);
    assert.match(armRun.stderr, /image arm:1 is for linux\/arm64; this host runs linux\/amd64/);

    const ok = await archiveOf([base], { name: 'base:1' });
    assert.equal((await rt.run(['runtime', 'load', ok])).code, 0);
    const missing = await rt.run(['runtime', 'run', '--rm', 'base:1', '/no/such/entrypoint']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /\/no\/such\/entrypoint.*(No such file|does not exist)/);

    const linkLayer = await buildLayer([{ name: 'data', type: 'symlink', linkname: canary }]);
    const linked = await archiveOf([base, linkLayer], { name: 'linked:1' });
    assert.equal((await rt.run(['runtime', 'load', linked])).code, 0);
    const sym = await rt.run(['runtime', 'run', '--rm', '-v', 'v1:/data', 'linked:1', 'sh', '-c', 'echo x > /data/pwned']);
    assert.equal(sym.code, 1);
    assert.match(sym.stderr, /\/data.*symlink/);
    assert.deepEqual(readdirSync(canary), ['file'], 'nothing mounted or written on the symlink target');

    const noLauncher = await rt.run(['runtime', 'run', '--rm', 'base:1', 'true'], { TSBAK_RUNTIME_LAUNCHER: '/nonexistent/tsbak-runtime' });
    assert.equal(noLauncher.code, 1);
    assert.match(noLauncher.stderr, /launcher is not built .*apt-get install gcc/);

    const asNobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, fileURLToPath(new URL('../../src/cli/main.js', import.meta.url)), 'runtime', 'ps'], {
      encoding: 'utf8',
      env: { ...process.env, TSBAK_RUNTIME_ROOT: path.join(tmpDir('tsbak-rt-nobody-'), 'rt') },
    });
    assert.equal(asNobody.status, 1, asNobody.stderr);
    assert.match(asNobody.stderr, /needs root/);
  } finally {
    await cleanup(rt);
  }
});
