import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureContainer, containerDependencies, dependencyOrder, type ContainerInspect } from '../../src/container/capture.js';
import { parseVolumeArg, selectForRestore } from '../../src/ops/restore/select.js';
import type { Snapshot } from '../../src/repo/snapshot.js';

const ID = 'abcdef0123456789'.repeat(4);

function inspect(overrides: Partial<ContainerInspect> = {}): ContainerInspect {
  return {
    Id: ID,
    Name: '/web',
    Image: 'sha256:' + '1'.repeat(64),
    State: { Running: true, Pid: 42 },
    Config: { Image: 'app:1', Hostname: ID.slice(0, 12), Env: ['A=1'], Labels: { tier: 'front' } },
    HostConfig: { NetworkMode: 'appnet', ContainerIDFile: '', MaskedPaths: ['/proc/kcore'], RestartPolicy: { Name: 'always' } },
    NetworkSettings: { Networks: { appnet: { Aliases: [ID.slice(0, 12), 'web'], IPAMConfig: null }, bridge: { Aliases: null } } },
    Mounts: [
      { Type: 'volume', Name: 'data', Source: '/var/lib/docker/volumes/data/_data', Destination: '/data', RW: true },
      { Type: 'bind', Source: '/etc/x', Destination: '/x', RW: false },
    ],
    ...overrides,
  };
}

test('capture keeps what re-creates the container and drops what belongs to the old host', () => {
  const r = captureContainer(inspect());
  assert.equal(r.name, 'web');
  assert.equal(r.image, 'app:1');
  assert.equal(r.config.Hostname, undefined, 'the default hostname (short id) is dropped');
  assert.deepEqual(r.config.Env, ['A=1']);
  assert.equal(r.hostConfig.ContainerIDFile, undefined);
  assert.equal(r.hostConfig.MaskedPaths, undefined);
  assert.deepEqual(r.hostConfig.RestartPolicy, { Name: 'always' });
  assert.deepEqual(Object.keys(r.networks), ['appnet'], 'built-in networks are not endpoints');
  assert.deepEqual(r.networks.appnet?.Aliases, ['web'], 'the old short-id alias is dropped');
  assert.deepEqual(r.volumes, [{ name: 'data', destination: '/data', readOnly: false }]);
  assert.equal(r.running, true);
  const chosen = captureContainer(inspect({ Config: { Image: 'app:1', Hostname: 'db-primary' } }));
  assert.equal(chosen.config.Hostname, 'db-primary', 'a chosen hostname stays');
});

test('dependencies come first: network, volumes-from, links, ipc and pid modes', () => {
  const make = (name: string, hostConfig: Record<string, unknown>) => ({ ...captureContainer(inspect({ Name: `/${name}` })), hostConfig });
  const app = make('app', { NetworkMode: 'container:proxy', VolumesFrom: ['data:ro'], Links: ['/db:database'] });
  const proxy = make('proxy', { NetworkMode: 'none' });
  const data = make('data', {});
  const db = make('db', { IpcMode: 'container:data' });
  assert.deepEqual(containerDependencies(app).sort(), ['data', 'db', 'proxy']);
  const order = dependencyOrder([app, db, proxy, data]).map((c) => c.name);
  assert.ok(order.indexOf('proxy') < order.indexOf('app'));
  assert.ok(order.indexOf('db') < order.indexOf('app'));
  assert.ok(order.indexOf('data') < order.indexOf('db'));
  // A cycle keeps the input order instead of looping.
  const a = make('a', { NetworkMode: 'container:b' });
  const b = make('b', { NetworkMode: 'container:a' });
  assert.deepEqual(dependencyOrder([a, b]).map((c) => c.name).length, 2);
});

test('restore selection: everything by default; a container brings its image; NAME:NEW renames', () => {
  const web = captureContainer(inspect());
  const snapshot = {
    images: [
      { names: ['app:1'], repoDigests: [], config: 'sha256:' + '1'.repeat(64), configSize: 1, layers: [] },
      { names: ['other:2'], repoDigests: [], config: 'sha256:' + '2'.repeat(64), configSize: 1, layers: [] },
    ],
    volumes: [{ name: 'data' }],
    containers: [web],
  } as unknown as Snapshot;
  const all = selectForRestore(snapshot, 'abcd1234', { images: [], volumes: [], containers: [] });
  assert.equal(all.images.length, 2);
  assert.deepEqual(all.volumes, [{ name: 'data', target: 'data' }]);
  const one = selectForRestore(snapshot, 'abcd1234', { images: [], volumes: ['data:copy'], containers: ['web'] });
  assert.deepEqual(one.images.map((i) => i.names[0]), ['app:1']);
  assert.deepEqual(one.volumes, [{ name: 'data', target: 'copy' }]);
  assert.throws(() => selectForRestore(snapshot, 'abcd1234', { images: [], volumes: ['nope'], containers: [] }), /volume nope is not in snapshot abcd1234/);
  assert.throws(() => selectForRestore(snapshot, 'abcd1234', { images: [], volumes: [], containers: ['ghost'] }), /container ghost is not in snapshot/);
  assert.throws(() => parseVolumeArg('a:b:c'), /--volume takes NAME or NAME:NEWNAME/);
});
