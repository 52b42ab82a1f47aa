// Moving an environment: a stack backed up on host A is restored on host B with
// --start, and B's containers see the same data and definitions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { dockerCli, engineA, engineB, fixtures, integrationSkip } from '../helpers.js';
import { newRepo, tsbakJson } from './support.js';

const skip = integrationSkip();

const checksums = async (host: string, container: string, dir: string) =>
  (await dockerCli(['exec', container, 'sh', '-c', `cd ${dir} && find . -type f | sort | xargs md5sum`], { host })).stdout;

test('a stack of three containers and two volumes moves from engine A to engine B', { skip, timeout: 300_000 }, async () => {
  const fx = fixtures();
  const tag = randomBytes(3).toString('hex');
  const shared = `shared-${tag}`;
  const own = `own-${tag}`;
  const [web, worker, db] = [`web-${tag}`, `worker-${tag}`, `db-${tag}`];
  const A = engineA();
  const B = engineB();
  const common = ['--network', 'none', '--restart', 'unless-stopped', '--stop-timeout', '1'];
  for (const args of [
    ['run', '-d', '--name', web, ...common, '-e', 'ROLE=web', '-l', 'stack=demo', '-v', `${shared}:/srv`, fx.app.name, 'sh', '-c', '[ -f /srv/index.html ] || { echo page > /srv/index.html; dd if=/dev/urandom of=/srv/blob bs=64k count=16 2>/dev/null; }; sleep 600'],
    ['run', '-d', '--name', worker, ...common, '-e', 'ROLE=worker', '-l', 'stack=demo', '-v', `${shared}:/work:ro`, fx.tool.name, 'sleep', '600'],
    ['run', '-d', '--name', db, ...common, '-e', 'ROLE=db', '-l', 'stack=demo', '-v', `${own}:/var/lib/db`, fx.base.name, 'sh', '-c', '[ -d /var/lib/db/t ] || { mkdir -p /var/lib/db/t; seq 1 5000 > /var/lib/db/t/rows; ln -s t/rows /var/lib/db/current; date > /var/lib/db/stamp; }; sleep 600'],
  ]) {
    // The commands create their data only when it is not there, so a restored copy is not rewritten on start.
    const r = await dockerCli(args, { host: A });
    assert.equal(r.code, 0, r.stderr);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const before = { srv: await checksums(A, web, '/srv'), db: await checksums(A, db, '/var/lib/db') };
  assert.match(before.srv, /index.html/);

  const repo = await newRepo();
  const backup = await tsbakJson<{ containers: unknown[]; volumes: { name: string }[]; images: unknown[] }>(
    ['backup', '--container', web, '--container', worker, '--container', db, '--freeze-together', '--repo', repo],
    { DOCKER_HOST: A },
  );
  assert.equal(backup.containers.length, 3);
  assert.deepEqual(backup.volumes.map((v) => v.name).sort(), [own, shared].sort());

  const restored = await tsbakJson<{ items: { kind: string; status: string; name: string }[] }>(['restore', 'latest', '--start', '--repo', repo], { DOCKER_HOST: B });
  const failed = restored.items.filter((i) => i.status === 'failed');
  assert.deepEqual(failed, []);
  for (const c of [web, worker, db]) {
    const a = JSON.parse((await dockerCli(['inspect', c], { host: A })).stdout)[0];
    const b = JSON.parse((await dockerCli(['inspect', c], { host: B })).stdout)[0];
    assert.equal(b.State.Running, true, `${c} runs on B`);
    assert.equal(b.Image, a.Image);
    assert.deepEqual(b.Config.Env, a.Config.Env);
    assert.deepEqual(b.Config.Labels, a.Config.Labels);
    assert.deepEqual(b.Config.Cmd, a.Config.Cmd);
    assert.deepEqual(b.HostConfig.RestartPolicy, a.HostConfig.RestartPolicy);
    assert.deepEqual(
      b.Mounts.map((m: { Name: string; Destination: string; RW: boolean }) => [m.Name, m.Destination, m.RW]),
      a.Mounts.map((m: { Name: string; Destination: string; RW: boolean }) => [m.Name, m.Destination, m.RW]),
    );
  }
  assert.equal(await checksums(B, web, '/srv'), before.srv, 'the shared volume has the same data on B');
  assert.equal(await checksums(B, worker, '/work'), before.srv, 'and the second container sees it too');
  assert.equal(await checksums(B, db, '/var/lib/db'), before.db);
  const link = await dockerCli(['exec', db, 'readlink', '/var/lib/db/current'], { host: B });
  assert.equal(link.stdout.trim(), 't/rows');

  for (const host of [A, B]) {
    await dockerCli(['rm', '-f', web, worker, db], { host });
    await dockerCli(['volume', 'rm', shared, own], { host });
  }
});
