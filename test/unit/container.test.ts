import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureContainer, type ContainerInspect } from '../../src/runtime/docker/capture.js';
import { containerDependencies, dependencyOrder } from '../../src/container/dependencies.js';
import { dockerCreateBody } from '../../src/runtime/docker/create-body.js';
import { upgradeContainerRecord } from '../../src/container/legacy.js';
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

test('capture translates Docker inspect into the neutral record and drops what belongs to the old host', () => {
  const r = captureContainer(inspect());
  assert.equal(r.name, 'web');
  assert.equal(r.image, 'app:1');
  assert.equal(r.hostname, undefined, 'the default hostname (short id) is dropped');
  assert.deepEqual(r.env, ['A=1']);
  assert.deepEqual(r.labels, { tier: 'front' });
  assert.deepEqual(r.restart, { name: 'always', maximumRetryCount: 0 });
  assert.equal(r.network.mode, 'appnet');
  assert.deepEqual(Object.keys(r.network.endpoints), ['appnet'], 'built-in networks are not endpoints');
  assert.deepEqual(r.network.endpoints.appnet?.aliases, ['web'], 'the old short-id alias is dropped');
  assert.deepEqual(r.mounts, [
    { type: 'volume', name: 'data', destination: '/data', readOnly: false },
    { type: 'bind', source: '/etc/x', destination: '/x', readOnly: true },
  ]);
  assert.equal(r.running, true);
  const ext = r.extensions.docker;
  assert.ok(ext);
  assert.equal(ext.hostConfig.ContainerIDFile, undefined, 'host-specific fields are dropped');
  assert.equal(ext.hostConfig.MaskedPaths, undefined);
  assert.equal(ext.hostConfig.RestartPolicy, undefined, 'modelled fields are not kept twice');
  assert.equal(ext.config.Env, undefined);
  const chosen = captureContainer(inspect({ Config: { Image: 'app:1', Hostname: 'db-primary' } }));
  assert.equal(chosen.hostname, 'db-primary', 'a chosen hostname stays');
});

test('the Docker create body is the extension overlaid with the neutral fields', () => {
  const r = captureContainer(
    inspect({
      Config: { Image: 'app:1', Env: ['A=1'], Cmd: ['sleep', '1'], ExposedPorts: { '80/tcp': {} } },
      HostConfig: { NetworkMode: 'appnet', RestartPolicy: { Name: 'always' }, Memory: 1 << 20, PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] }, Tmpfs: { '/run': 'size=1m' } },
    }),
  );
  r.env = ['A=2'];
  const { body, connectAfter } = dockerCreateBody(r, 'sha256:' + '1'.repeat(64), new Set(['appnet']));
  const host = body.HostConfig as Record<string, unknown>;
  assert.deepEqual(body.Env, ['A=2'], 'the neutral field wins');
  assert.deepEqual(body.Cmd, ['sleep', '1']);
  assert.deepEqual(body.ExposedPorts, { '80/tcp': {} }, 'Docker-only config passes through');
  assert.equal(host.Memory, 1 << 20, 'Docker-only host config passes through');
  assert.deepEqual(host.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
  assert.deepEqual(host.Tmpfs, { '/run': 'size=1m' });
  assert.deepEqual(host.Mounts, [
    { Type: 'volume', Source: 'data', Target: '/data', ReadOnly: false },
    { Type: 'bind', Source: '/etc/x', Target: '/x', ReadOnly: true },
  ]);
  assert.deepEqual(host.RestartPolicy, { Name: 'always', MaximumRetryCount: 0 });
  assert.deepEqual(Object.keys((body.NetworkingConfig as { EndpointsConfig: object }).EndpointsConfig), ['appnet']);
  assert.deepEqual(connectAfter, []);
});

test('a tsbak 0.1 record (Docker create body) reads as the neutral model', () => {
  const legacy = {
    name: 'web',
    id: ID,
    image: 'app:1',
    imageId: 'sha256:' + '1'.repeat(64),
    config: { Env: ['A=1'], Cmd: ['sh'], Labels: { x: 'y' }, StopSignal: 'SIGINT' },
    hostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 }, Binds: ['data:/data', '/srv:/srv:ro'] },
    networks: {},
    volumes: [{ name: 'data', destination: '/data', readOnly: false }],
    running: true,
  };
  const r = upgradeContainerRecord(legacy);
  assert.equal(r.image, 'app:1');
  assert.deepEqual(r.cmd, ['sh']);
  assert.equal(r.stopSignal, 'SIGINT');
  assert.equal(r.restart.name, 'unless-stopped');
  assert.equal(r.network.mode, 'none');
  assert.deepEqual(r.mounts, [
    { type: 'volume', name: 'data', destination: '/data', readOnly: false },
    { type: 'bind', source: '/srv', destination: '/srv', readOnly: true },
  ]);
  assert.equal(upgradeContainerRecord(r), r, 'a current record is left as it is');
});

test('dependencies come first: network, volumes-from, links, ipc and pid modes', () => {
  const make = (name: string, HostConfig: Record<string, unknown>) => captureContainer(inspect({ Name: `/${name}`, HostConfig, NetworkSettings: {} }));
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
