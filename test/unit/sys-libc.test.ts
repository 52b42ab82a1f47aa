// The koffi bindings in src/sys/libc.ts, against the real kernel on a temp dir (ext4 here).
import assert from 'node:assert/strict';
import { closeSync, constants, ftruncateSync, lstatSync, mkdtempSync, openSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { devMajor, devMinor, errnoName, ficlone, lgetxattr, llistxattr, lsetxattr, makedev, mknod, seekData, seekHole, syncfs, SysError, utimensat } from '../../src/sys/libc.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'tsbak-libc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('errno names are the conventional Linux ones', () => {
  assert.equal(errnoName(os.constants.errno.EOPNOTSUPP), 'EOPNOTSUPP');
  assert.equal(errnoName(os.constants.errno.ENODATA), 'ENODATA');
  assert.equal(errnoName(os.constants.errno.ENOENT), 'ENOENT');
});

test('xattrs: set, list and get user.* names; binary values round-trip', () => {
  const file = path.join(dir, 'x.txt');
  writeFileSync(file, 'data');
  assert.deepEqual(llistxattr(file).filter((n) => n.startsWith('user.')), []);
  const big = Buffer.alloc(3000, 0xab);
  big[0] = 0;
  lsetxattr(file, 'user.tsbak.a', Buffer.from('hello'));
  lsetxattr(file, 'user.tsbak.empty', Buffer.alloc(0));
  lsetxattr(file, 'user.tsbak.big', big);
  assert.deepEqual(
    llistxattr(file)
      .filter((n) => n.startsWith('user.'))
      .sort(),
    ['user.tsbak.a', 'user.tsbak.big', 'user.tsbak.empty'],
  );
  assert.equal(lgetxattr(file, 'user.tsbak.a').toString(), 'hello');
  assert.equal(lgetxattr(file, 'user.tsbak.empty').length, 0);
  assert.ok(lgetxattr(file, 'user.tsbak.big').equals(big));
  // replacing keeps one name
  lsetxattr(file, 'user.tsbak.a', Buffer.from('bye'));
  assert.equal(lgetxattr(file, 'user.tsbak.a').toString(), 'bye');
});

test('xattrs: a missing name is a SysError ENODATA naming the file and the attribute', () => {
  const file = path.join(dir, 'nodata.txt');
  writeFileSync(file, '');
  assert.throws(
    () => lgetxattr(file, 'user.missing'),
    (e: unknown) => e instanceof SysError && e.code === 'ENODATA' && e.message.includes(file) && e.message.includes('user.missing'),
  );
  assert.throws(
    () => llistxattr(path.join(dir, 'does-not-exist')),
    (e: unknown) => e instanceof SysError && e.code === 'ENOENT',
  );
});

test('xattrs: user.* on a symlink is refused with a clear SysError and does not touch the target', () => {
  const target = path.join(dir, 'target.txt');
  const link = path.join(dir, 'xlink');
  writeFileSync(target, '');
  symlinkSync('target.txt', link);
  assert.throws(
    () => lsetxattr(link, 'user.x', Buffer.from('1')),
    (e: unknown) => e instanceof SysError && (e.code === 'EPERM' || e.code === 'EOPNOTSUPP') && e.message.includes('symlink'),
  );
  assert.deepEqual(llistxattr(target).filter((n) => n.startsWith('user.')), []);
  assert.ok(Array.isArray(llistxattr(link)));
});

test('mknod makes a fifo; makedev follows glibc', () => {
  const fifo = path.join(dir, 'fifo');
  mknod(fifo, constants.S_IFIFO | 0o640, 0, 0);
  const st = lstatSync(fifo);
  assert.ok(st.isFIFO());
  assert.equal(st.mode & 0o777, 0o640 & ~process.umask());
  assert.throws(
    () => mknod(fifo, constants.S_IFIFO | 0o600, 0, 0),
    (e: unknown) => e instanceof SysError && e.code === 'EEXIST' && e.message.includes(fifo),
  );
  // values from glibc's makedev (python3 -c 'import os; print(hex(os.makedev(0x12345, 0x6789a)))')
  assert.equal(makedev(8, 1), 0x801n);
  assert.equal(makedev(259, 65536), 0x10010300n);
  assert.equal(makedev(0x12345, 0x6789a), 0x120006783459an);
  for (const [ma, mi] of [[8, 1], [259, 65536], [0x12345, 0x6789a], [4095, 255]] as const) {
    assert.equal(devMajor(makedev(ma, mi)), ma);
    assert.equal(devMinor(makedev(ma, mi)), mi);
  }
});

test('mknod makes a character device with the right rdev (as root)', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  const dev = path.join(dir, 'null-copy');
  mknod(dev, constants.S_IFCHR | 0o600, 1, 3);
  const st = lstatSync(dev);
  assert.ok(st.isCharacterDevice());
  assert.equal(devMajor(st.rdev), 1);
  assert.equal(devMinor(st.rdev), 3);
  assert.equal(st.rdev, statSync('/dev/null').rdev);
});

test('utimensat sets nanosecond times on a symlink itself, not its target', () => {
  const target = path.join(dir, 'times-target');
  const link = path.join(dir, 'times-link');
  writeFileSync(target, 'x');
  symlinkSync('times-target', link);
  const before = lstatSync(target, { bigint: true });
  const atime = 1_700_000_000_123_456_789n;
  const mtime = 1_600_000_000_987_654_321n;
  utimensat(link, atime, mtime, true);
  const st = lstatSync(link, { bigint: true });
  assert.equal(st.atimeNs, atime);
  assert.equal(st.mtimeNs, mtime);
  const after = lstatSync(target, { bigint: true });
  assert.equal(after.mtimeNs, before.mtimeNs);
  // following the link sets the target; a time before 1970 works too
  utimensat(link, -1_500_000_001n, 5n, false);
  const t = lstatSync(target, { bigint: true });
  assert.equal(t.atimeNs, -1_500_000_001n);
  assert.equal(t.mtimeNs, 5n);
  assert.throws(() => utimensat(path.join(dir, 'nope'), 0n, 0n, true), (e: unknown) => e instanceof SysError && e.code === 'ENOENT');
});

test('seekData and seekHole walk a sparse file', () => {
  const file = path.join(dir, 'sparse');
  const fd = openSync(file, 'w+');
  try {
    const MiB = 1 << 20;
    ftruncateSync(fd, 8 * MiB);
    writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 2 * MiB);
    writeSync(fd, Buffer.alloc(4096, 2), 0, 4096, 5 * MiB);
    const extents: [bigint, bigint][] = [];
    let off = 0n;
    for (;;) {
      const data = seekData(fd, off);
      if (data === null) break;
      const hole = seekHole(fd, data);
      extents.push([data, hole]);
      off = hole;
    }
    assert.deepEqual(extents, [
      [BigInt(2 * MiB), BigInt(2 * MiB + 4096)],
      [BigInt(5 * MiB), BigInt(5 * MiB + 4096)],
    ]);
    assert.equal(seekHole(fd, 0n), 0n);
    assert.equal(seekData(fd, BigInt(6 * MiB)), null);
    assert.equal(seekHole(fd, BigInt(6 * MiB)), BigInt(6 * MiB));
    assert.equal(seekHole(fd, BigInt(5 * MiB + 100)), BigInt(5 * MiB + 4096));
    assert.throws(() => seekHole(fd, BigInt(9 * MiB)), (e: unknown) => e instanceof SysError && e.code === 'ENXIO');
    syncfs(fd);
  } finally {
    closeSync(fd);
  }
  assert.throws(() => syncfs(987654), (e: unknown) => e instanceof SysError && e.code === 'EBADF');
});

test('ficlone on a filesystem without reflinks fails with a SysError that says so', () => {
  const src = path.join(dir, 'clone-src');
  const dst = path.join(dir, 'clone-dst');
  writeFileSync(src, Buffer.alloc(65536, 7));
  const s = openSync(src, 'r');
  const d = openSync(dst, 'w');
  try {
    let err: unknown;
    try {
      ficlone(d, s);
    } catch (e) {
      err = e;
    }
    if (err === undefined) {
      // a reflink-capable temp dir (XFS/btrfs): the clone must then be a true copy
      closeSync(d);
      assert.equal(statSync(dst).size, 65536);
      return;
    }
    assert.ok(err instanceof SysError, String(err));
    assert.ok(['EOPNOTSUPP', 'EXDEV', 'EINVAL'].includes(err.code), err.code);
    assert.equal(err.syscall, 'ficlone');
    assert.match(err.message, /^ficlone on fd \d+ from fd \d+ failed: E[A-Z]+ \(.+\)/);
  } finally {
    try {
      closeSync(d);
    } catch {
      // closed above
    }
    closeSync(s);
  }
});
