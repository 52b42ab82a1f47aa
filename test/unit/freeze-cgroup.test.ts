// Parsing /proc/self/mountinfo and /proc/<pid>/cgroup for every cgroup layout and driver.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cgroupDir, containerIdOfCgroup, isWithin, parseMountinfo, parseProcCgroup } from '../../src/freeze/cgroup.js';

const ID = 'a'.repeat(56) + '0123abcd';

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
37 31 0:34 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd,release_agent=/x
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`;

test('mountinfo: a hybrid host has v2 at unified and v1 freezer among the controllers', () => {
  const mounts = parseMountinfo(HYBRID);
  assert.deepEqual(
    mounts.map((m) => [m.version, m.mountPoint, m.controllers.join('+')]),
    [
      ['v1', '/sys/fs/cgroup/cpu,cpuacct', 'cpu+cpuacct'],
      ['v1', '/sys/fs/cgroup/freezer', 'freezer'],
      ['v1', '/sys/fs/cgroup/systemd', 'name=systemd'],
      ['v2', '/sys/fs/cgroup/unified', ''],
    ],
  );
});

test('mountinfo: a pure v2 host, a sub-tree mount and an escaped mount point', () => {
  const text = `25 20 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
90 25 0:22 /docker/abc /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw
`;
  const mounts = parseMountinfo(text);
  assert.deepEqual(
    mounts.map((m) => [m.version, m.mountPoint, m.root]),
    [
      ['v2', '/sys/fs/cgroup', '/'],
      ['v2', '/mnt/my cgroups', '/docker/abc'],
    ],
  );
  const [whole, sub] = mounts;
  assert.equal(cgroupDir(whole!, '/docker/abc/x'), '/sys/fs/cgroup/docker/abc/x');
  assert.equal(cgroupDir(sub!, '/docker/abc/x'), '/mnt/my cgroups/x');
  assert.equal(cgroupDir(sub!, '/docker/abc'), '/mnt/my cgroups');
  assert.equal(cgroupDir(sub!, '/docker/abcd'), undefined);
  assert.equal(cgroupDir(sub!, '/system.slice'), undefined);
});

test('/proc/<pid>/cgroup: cgroupfs driver on a hybrid host', () => {
  const lines = parseProcCgroup(`12:freezer:/docker/${ID}
4:cpu,cpuacct:/docker/${ID}
1:name=systemd:/docker/${ID}
0::/docker/${ID}
`);
  assert.equal(lines.v2, `/docker/${ID}`);
  assert.equal(lines.v1.get('freezer'), `/docker/${ID}`);
  assert.equal(lines.v1.get('cpuacct'), `/docker/${ID}`);
  assert.equal(lines.v1.get('name=systemd'), `/docker/${ID}`);
});

test('/proc/<pid>/cgroup: systemd driver on pure v2, and a custom --cgroup-parent', () => {
  const systemd = parseProcCgroup(`0::/system.slice/docker-${ID}.scope\n`);
  assert.equal(systemd.v2, `/system.slice/docker-${ID}.scope`);
  assert.equal(systemd.v1.size, 0);
  const custom = parseProcCgroup(`7:freezer:/backups/db/${ID}\n0::/backups/db/${ID}\n`);
  assert.equal(custom.v2, `/backups/db/${ID}`);
  assert.equal(custom.v1.get('freezer'), `/backups/db/${ID}`);
  // a path with a colon survives
  assert.equal(parseProcCgroup('0::/odd:name\n').v2, '/odd:name');
});

test('container ids are recognised in every driver\'s leaf name, and only there', () => {
  assert.equal(containerIdOfCgroup(`/sys/fs/cgroup/unified/docker/${ID}`), ID);
  assert.equal(containerIdOfCgroup(`/sys/fs/cgroup/system.slice/docker-${ID}.scope`), ID);
  assert.equal(containerIdOfCgroup(`/sys/fs/cgroup/machine.slice/libpod-${ID}.scope`), ID);
  assert.equal(containerIdOfCgroup(`/sys/fs/cgroup/backups/${ID}`), ID);
  assert.equal(containerIdOfCgroup(`/sys/fs/cgroup/docker/${ID}/child`), undefined);
  assert.equal(containerIdOfCgroup('/sys/fs/cgroup/system.slice/ssh.service'), undefined);
  assert.equal(containerIdOfCgroup(`/sys/fs/cgroup/docker/x${ID}`), undefined);
});

test('isWithin: tsbak never freezes a cgroup that holds itself', () => {
  assert.ok(isWithin('/user.slice/session-1.scope', '/user.slice'));
  assert.ok(isWithin('/user.slice', '/user.slice'));
  assert.ok(isWithin('/anything', '/'));
  assert.ok(!isWithin('/user.slice2', '/user.slice'));
  assert.ok(!isWithin('/docker', `/docker/${ID}`));
});
