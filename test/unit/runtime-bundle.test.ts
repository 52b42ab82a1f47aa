// The OCI bundle generator: users resolved as Docker does, and config.json as Docker would run the container.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { ContainerRecord } from '../../src/container/model.js';
import type { ImageRunConfig } from '../../src/image/model.js';
import { ImageUserError, RuntimeSpecError } from '../../src/runtime/bundle/errors.js';
import { readImageAccounts } from '../../src/runtime/bundle/rootfs-read.js';
import { buildRuntimeSpec, containerArgs, containerEnv, type RuntimeSpecInput } from '../../src/runtime/bundle/spec.js';
import { resolveUser, type ResolvedUser } from '../../src/runtime/bundle/user.js';
import { writeBundle } from '../../src/runtime/bundle/write.js';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
broken line
app:x:1000:1000:App:/home/app:/bin/sh
nohome:x:1001:1001::::
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`;
const GROUP = `root:x:0:
wheel:x:10:root,app
app:x:1000:
staff:x:50:app, nohome
nogroup:x:65534:
bad:x:notanumber:app
`;

describe('resolveUser', () => {
  const cases: [string, ResolvedUser][] = [
    ['', { uid: 0, gid: 0, additionalGids: [10], home: '/root' }],
    ['root', { uid: 0, gid: 0, additionalGids: [10], home: '/root' }],
    ['app', { uid: 1000, gid: 1000, additionalGids: [10, 50], home: '/home/app' }],
    ['1000', { uid: 1000, gid: 1000, additionalGids: [10, 50], home: '/home/app' }],
    ['1000:50', { uid: 1000, gid: 50, additionalGids: [], home: '/home/app' }],
    ['app:staff', { uid: 1000, gid: 50, additionalGids: [], home: '/home/app' }],
    ['1000:staff', { uid: 1000, gid: 50, additionalGids: [], home: '/home/app' }],
    ['app:4242', { uid: 1000, gid: 4242, additionalGids: [], home: '/home/app' }],
    ['nohome', { uid: 1001, gid: 1001, additionalGids: [50], home: '/' }],
    ['nobody', { uid: 65534, gid: 65534, additionalGids: [], home: '/nonexistent' }],
    ['4321', { uid: 4321, gid: 0, additionalGids: [], home: '/' }],
    ['4321:4321', { uid: 4321, gid: 4321, additionalGids: [], home: '/' }],
  ];
  for (const [user, want] of cases) {
    test(`\`${user}\``, () => assert.deepEqual(resolveUser(user, PASSWD, GROUP), want));
  }

  test('an image without account files still takes numeric users', () => {
    assert.deepEqual(resolveUser('', '', ''), { uid: 0, gid: 0, additionalGids: [], home: '/' });
    assert.deepEqual(resolveUser('12:34', '', ''), { uid: 12, gid: 34, additionalGids: [], home: '/' });
  });

  test('unknown names are clear typed errors', () => {
    assert.throws(() => resolveUser('ghost', PASSWD, GROUP), (e: unknown) => e instanceof ImageUserError && e.message === "user ghost: no such user in the image's /etc/passwd");
    assert.throws(() => resolveUser('app:ghosts', PASSWD, GROUP), (e: unknown) => e instanceof ImageUserError && e.message === "group ghosts: no such group in the image's /etc/group");
    assert.throws(() => resolveUser('app', '', ''), /no such user in the image's \/etc\/passwd \(the image has no \/etc\/passwd; give a numeric uid\)/);
  });

  test('malformed user strings and out-of-range ids are refused', () => {
    for (const bad of ['a:b:c', ':0', '0:', '99999999999', '0:99999999999']) {
      assert.throws(() => resolveUser(bad, PASSWD, GROUP), ImageUserError, bad);
    }
  });
});

describe('containerArgs (Docker merge rule)', () => {
  const image: ImageRunConfig = { Entrypoint: ['/entry'], Cmd: ['serve'] };
  test('null falls back to the image', () => assert.deepEqual(containerArgs({ entrypoint: null, cmd: null }, image), ['/entry', 'serve']));
  test('a cmd replaces the image cmd only', () => assert.deepEqual(containerArgs({ entrypoint: null, cmd: ['x'] }, image), ['/entry', 'x']));
  test('an overridden entrypoint drops the image cmd', () => assert.deepEqual(containerArgs({ entrypoint: ['/other'], cmd: null }, image), ['/other']));
  test('entrypoint and cmd both given', () => assert.deepEqual(containerArgs({ entrypoint: ['/other'], cmd: ['-v'] }, image), ['/other', '-v']));
  test('an empty entrypoint clears the image one', () => assert.deepEqual(containerArgs({ entrypoint: [], cmd: null }, image), ['serve']));
  test('no image config', () => assert.deepEqual(containerArgs({ entrypoint: null, cmd: ['sh'] }, undefined), ['sh']));
});

describe('containerEnv', () => {
  test('defaults PATH, sets HOSTNAME and HOME, container overrides image by key', () => {
    assert.deepEqual(containerEnv(['A=1', 'B=2'], ['B=3', 'C=4', 'NOVALUE'], 'h1', '/root'), ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=h1', 'A=1', 'B=3', 'C=4', 'HOME=/root']);
  });
  test("the image's PATH, HOME and an explicit HOSTNAME are kept", () => {
    assert.deepEqual(containerEnv(['PATH=/opt/bin', 'HOME=/srv'], ['HOSTNAME=mine'], 'h1', '/root'), ['HOSTNAME=mine', 'PATH=/opt/bin', 'HOME=/srv']);
  });
});

function record(over: Partial<Pick<ContainerRecord, 'entrypoint' | 'cmd' | 'env' | 'workingDir' | 'mounts'>> = {}): RuntimeSpecInput['container'] {
  return { entrypoint: null, cmd: null, env: [], workingDir: '', mounts: [], ...over };
}

function input(over: Partial<RuntimeSpecInput> = {}): RuntimeSpecInput {
  return {
    imageName: 'app:1',
    image: { Cmd: ['/bin/app'], Env: ['PATH=/bin'], WorkingDir: '/srv' },
    container: record(),
    rootfs: '/var/lib/tsbak/runtime/c1/rootfs',
    user: { uid: 0, gid: 0, additionalGids: [10], home: '/root' },
    volumes: [],
    network: 'none',
    cgroupsPath: '/tsbak/c1',
    hostname: 'c1',
    ...over,
  };
}

describe('buildRuntimeSpec', () => {
  test('a runc-compatible spec with Docker defaults', () => {
    const s = buildRuntimeSpec(input());
    assert.equal(s.ociVersion, '1.0.2');
    assert.deepEqual(s.process.args, ['/bin/app']);
    assert.equal(s.process.cwd, '/srv');
    assert.equal(s.process.terminal, false);
    assert.deepEqual(s.process.user, { uid: 0, gid: 0, additionalGids: [10] });
    assert.deepEqual(s.process.env, ['HOSTNAME=c1', 'PATH=/bin', 'HOME=/root']);
    assert.equal(s.process.capabilities.bounding.length, 14);
    assert.deepEqual(s.process.capabilities.effective, s.process.capabilities.bounding);
    assert.deepEqual(s.process.capabilities.inheritable, []);
    assert.deepEqual(s.process.capabilities.ambient, []);
    assert.equal(s.process.noNewPrivileges, false);
    assert.deepEqual(s.root, { path: '/var/lib/tsbak/runtime/c1/rootfs', readonly: false });
    assert.equal(s.hostname, 'c1');
    assert.deepEqual(s.mounts.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/sys', '/dev/mqueue', '/dev/shm']);
    assert.deepEqual(s.linux.namespaces.map((n) => n.type), ['pid', 'network', 'ipc', 'uts', 'mount']);
    assert.ok(s.linux.maskedPaths.includes('/proc/kcore') && s.linux.maskedPaths.includes('/sys/firmware'));
    assert.ok(s.linux.readonlyPaths.includes('/proc/sysrq-trigger') && s.linux.readonlyPaths.includes('/proc/sys'));
    assert.equal(s.linux.cgroupsPath, '/tsbak/c1');
    assert.deepEqual(s.linux.resources.devices[0], { allow: false, access: 'rwm' });
    assert.ok(s.linux.resources.devices.some((d) => d.allow && d.type === 'c' && d.major === 1 && d.minor === 3 && d.access === 'rwm'));
    assert.equal(s.linux.resources.pids, undefined);
  });

  test('capabilities are exactly Docker\'s 14 (CapEff a80425fb)', () => {
    const bits: Record<string, number> = { CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_FOWNER: 3, CAP_FSETID: 4, CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_SETPCAP: 8, CAP_NET_BIND_SERVICE: 10, CAP_NET_RAW: 13, CAP_SYS_CHROOT: 18, CAP_MKNOD: 27, CAP_AUDIT_WRITE: 29, CAP_SETFCAP: 31 };
    const mask = buildRuntimeSpec(input()).process.capabilities.bounding.reduce((m, c) => m | (1n << BigInt(bits[c] ?? 99)), 0n);
    assert.equal(mask.toString(16).padStart(16, '0'), '00000000a80425fb');
  });

  test('host network: no network namespace', () => {
    assert.ok(!buildRuntimeSpec(input({ network: 'host' })).linux.namespaces.some((n) => n.type === 'network'));
  });

  test('volumes are rbind mounts after the defaults, parents first; read-only ones are ro', () => {
    const s = buildRuntimeSpec(
      input({
        volumes: [
          { source: '/v/b', destination: '/data/sub/', readOnly: true },
          { source: '/v/a', destination: '/data', readOnly: false },
        ],
      }),
    );
    assert.deepEqual(s.mounts.slice(6), [
      { destination: '/data', type: 'bind', source: '/v/a', options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/data/sub', type: 'bind', source: '/v/b', options: ['rbind', 'rprivate', 'ro'] },
    ]);
  });

  test('a volume over a default mount replaces it; tmpfs mounts get Docker\'s defaults first', () => {
    const s = buildRuntimeSpec(
      input({
        volumes: [{ source: '/v/shm', destination: '/dev/shm', readOnly: false }],
        container: record({ mounts: [{ type: 'tmpfs', destination: '/run', options: ['size=1m', 'exec'] }] }),
      }),
    );
    assert.equal(s.mounts.filter((m) => m.destination === '/dev/shm').length, 1);
    assert.equal(s.mounts.find((m) => m.destination === '/dev/shm')?.type, 'bind');
    assert.deepEqual(s.mounts.find((m) => m.destination === '/run'), { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'size=1m', 'exec'] });
  });

  test('limits, read-only root, working dir fallbacks', () => {
    const s = buildRuntimeSpec(input({ limits: { pids: 100, memoryBytes: 64 << 20 }, readonlyRootfs: true, image: { Cmd: ['x'] }, container: record({ workingDir: 'rel/../dir' }) }));
    assert.deepEqual(s.linux.resources.pids, { limit: 100 });
    assert.deepEqual(s.linux.resources.memory, { limit: 64 << 20 });
    assert.equal(s.root.readonly, true);
    assert.equal(s.process.cwd, '/dir');
    assert.equal(buildRuntimeSpec(input({ image: { Cmd: ['x'] } })).process.cwd, '/');
  });

  test('nothing to run is a clear error', () => {
    assert.throws(() => buildRuntimeSpec(input({ image: {} })), (e: unknown) => e instanceof RuntimeSpecError && e.message === 'image app:1 has no entrypoint or command; give one');
    assert.throws(() => buildRuntimeSpec(input({ image: undefined })), RuntimeSpecError);
  });

  test('bad paths and names are refused', () => {
    assert.throws(() => buildRuntimeSpec(input({ volumes: [{ source: '/v', destination: 'data', readOnly: false }] })), /volume destination `data` must be an absolute path/);
    assert.throws(() => buildRuntimeSpec(input({ volumes: [{ source: 'v', destination: '/data', readOnly: false }] })), /bind source `v` must be an absolute host path/);
    assert.throws(() => buildRuntimeSpec(input({ volumes: [{ source: '/v', destination: '/', readOnly: false }] })), /cannot be mounted over the container's root/);
    assert.throws(
      () => buildRuntimeSpec(input({ volumes: [{ source: '/v', destination: '/d', readOnly: false }, { source: '/w', destination: '/d/', readOnly: false }] })),
      /two mounts have the destination \/d/,
    );
    assert.throws(() => buildRuntimeSpec(input({ hostname: 'bad host' })), /hostname `bad host` is not valid/);
    assert.throws(() => buildRuntimeSpec(input({ rootfs: 'rel' })), /must be absolute/);
  });
});

describe('writeBundle and readImageAccounts', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsbak-bundle-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('config.json is written whole, with no temp file left', async () => {
    const spec = buildRuntimeSpec(input());
    const file = await writeBundle(path.join(dir, 'b'), spec);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), spec);
    assert.deepEqual(readdirSync(path.join(dir, 'b')), ['config.json']);
  });

  test('account files are read inside the rootfs; a symlink to the host resolves inside it', () => {
    const root = path.join(dir, 'rootfs');
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    writeFileSync(path.join(root, 'etc', 'group'), GROUP);
    // a hostile image: /etc/passwd -> the host's /etc/passwd (absolute), which must resolve to <root>/etc/passwd.real here
    mkdirSync(path.join(root, 'host-etc'));
    symlinkSync('/host-etc/passwd', path.join(root, 'etc', 'passwd'));
    writeFileSync(path.join(root, 'host-etc', 'passwd'), 'inside:x:7:7::/in:/bin/sh\n');
    const accounts = readImageAccounts(root);
    assert.equal(accounts.passwd, 'inside:x:7:7::/in:/bin/sh\n');
    assert.equal(accounts.group, GROUP);
    // pointing at a file that exists only on the host (its shadow) reads as missing, never the host's file
    rmSync(path.join(root, 'etc', 'passwd'));
    symlinkSync('../../../../../../../etc/shadow', path.join(root, 'etc', 'passwd'));
    assert.equal(readImageAccounts(root).passwd, '');
  });

  test('an image without /etc reads as no accounts', () => {
    const root = path.join(dir, 'empty');
    mkdirSync(root);
    assert.deepEqual(readImageAccounts(root), { passwd: '', group: '' });
  });
});
