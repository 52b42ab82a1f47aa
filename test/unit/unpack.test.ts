// The layer unpacker (src/runtime/unpack) against the real kernel, as root, on
// layers built here: OCI semantics, then a corpus of hostile layers, each of
// which must be refused (or kept inside the root) with nothing outside touched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { applyLayer, LayerEscapeError, LayerFormatError, LayerApplyError, unpackImage, type LayerStats } from '../../src/runtime/unpack/index.js';
import { lgetxattr } from '../../src/sys/libc.js';
import { openInRoot, readFileInRoot, SysError } from '../../src/sys/fsat.js';
import { buildLayer, hostileCorpus, layerStream, type LayerEntry } from './support/hostile-layers.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'the unpacker tests need root (owners, security.capability, trusted xattrs)';

const base = mkdtempSync(path.join(os.tmpdir(), 'tsbak-unpack-'));
after(() => rmSync(base, { recursive: true, force: true }));

let counter = 0;
function freshRoot(): string {
  const root = path.join(base, 'roots', `r${++counter}`, 'rootfs');
  mkdirSync(root, { recursive: true });
  return root;
}

async function apply(root: string, entries: LayerEntry[], label = 'layer 1 of test:1'): Promise<LayerStats> {
  return applyLayer(root, layerStream(await buildLayer(entries)), { label });
}

const T0 = new Date(1_500_000_000_000);
const T1 = new Date(1_600_000_000_000);

describe('OCI layer semantics', { skip }, () => {
  test('files, directories, symlinks, hard links and fifos, with owners, modes (setuid after chown), xattrs and times', async () => {
    const root = freshRoot();
    const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0x20, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]); // binary: bytes ≥ 0x80
    const big = Buffer.alloc(3 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    const stats = await apply(root, [
      { name: 'usr/', type: 'directory', mode: 0o755, mtime: T0 },
      { name: 'usr/bin/', type: 'directory', mode: 0o750, uid: 0, gid: 4, mtime: T0 },
      { name: 'usr/bin/suid', content: '#!/bin/sh\n', mode: 0o4755, uid: 1000, gid: 1000, mtime: T1 },
      { name: 'usr/bin/sgid', content: 'g', mode: 0o2711, uid: 7, gid: 8, mtime: T1 },
      { name: 'usr/bin/ping', content: 'ping', mode: 0o755, uid: 1000, gid: 1000, xattrs: { 'security.capability': cap, 'user.note': 'hello' } },
      { name: 'usr/bin/big', content: big, mode: 0o644 },
      { name: 'usr/bin/empty', content: '', mode: 0o600, uid: 65534, gid: 65534 },
      { name: 'usr/bin/rel', type: 'symlink', linkname: 'suid', uid: 5, gid: 6, mtime: T0 },
      { name: 'usr/bin/abs', type: 'symlink', linkname: '/usr/bin/suid' },
      { name: 'usr/bin/hard', type: 'link', linkname: 'usr/bin/suid', mode: 0o4755, uid: 1000, gid: 1000, mtime: T1 }, // as writers do: the target's metadata
      { name: 'tmp/', type: 'directory', mode: 0o1777, mtime: T0 },
      { name: 'tmp/fifo', type: 'fifo', mode: 0o640, uid: 3, gid: 4, mtime: T1 },
      { name: './etc/', type: 'directory', mode: 0o755, mtime: T0 },
      { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644, mtime: T0 },
      { name: 'implicit/parent/file', content: 'made with its parents' },
    ]);
    assert.deepEqual(
      { ...stats, warnings: stats.warnings.length },
      { entries: 15, files: 7, dirs: 4, symlinks: 2, hardlinks: 1, fifos: 1, bytes: 10 + 1 + 4 + big.length + 0 + 26 + 21, whiteouts: 0, skipped: 0, warnings: 0 },
    );
    const st = (p: string) => lstatSync(path.join(root, p));
    assert.equal(st('usr/bin/suid').mode & 0o7777, 0o4755, 'setuid survives the chown');
    assert.deepEqual([st('usr/bin/suid').uid, st('usr/bin/suid').gid], [1000, 1000]);
    assert.equal(st('usr/bin/sgid').mode & 0o7777, 0o2711);
    assert.deepEqual([st('usr/bin/sgid').uid, st('usr/bin/sgid').gid], [7, 8]);
    assert.equal(st('usr/bin').mode & 0o7777, 0o750);
    assert.equal(st('usr/bin').gid, 4);
    assert.equal(st('tmp').mode & 0o7777, 0o1777, 'sticky bit');
    assert.ok(lgetxattr(path.join(root, 'usr/bin/ping'), 'security.capability').equals(cap), 'binary security.capability byte for byte');
    assert.equal(lgetxattr(path.join(root, 'usr/bin/ping'), 'user.note').toString(), 'hello');
    assert.deepEqual([st('usr/bin/ping').uid, st('usr/bin/ping').gid], [1000, 1000]);
    assert.ok(readFileSync(path.join(root, 'usr/bin/big')).equals(big));
    assert.equal(st('usr/bin/empty').size, 0);
    assert.deepEqual([st('usr/bin/empty').uid, st('usr/bin/empty').mode & 0o777], [65534, 0o600]);
    assert.equal(readlinkSync(path.join(root, 'usr/bin/rel')), 'suid');
    assert.equal(readlinkSync(path.join(root, 'usr/bin/abs')), '/usr/bin/suid');
    assert.deepEqual([st('usr/bin/rel').uid, st('usr/bin/rel').gid], [5, 6], 'symlink owner (lchown)');
    assert.equal(st('usr/bin/hard').ino, st('usr/bin/suid').ino);
    assert.equal(st('usr/bin/suid').nlink, 2);
    assert.ok(st('tmp/fifo').isFIFO());
    assert.equal(st('tmp/fifo').mode & 0o777, 0o640);
    assert.deepEqual([st('tmp/fifo').uid, st('tmp/fifo').gid], [3, 4]);
    assert.equal(readFileSync(path.join(root, 'implicit/parent/file'), 'utf8'), 'made with its parents');
    // times: files and symlinks as in the tar; directories too, though children were written after them
    assert.equal(st('usr/bin/suid').mtimeMs, T1.getTime());
    assert.equal(st('usr/bin/rel').mtimeMs, T0.getTime(), 'a symlink\'s own mtime');
    assert.equal(st('tmp/fifo').mtimeMs, T1.getTime());
    for (const d of ['usr', 'usr/bin', 'tmp', 'etc']) assert.equal(st(d).mtimeMs, T0.getTime(), `${d} mtime set after its children`);
  });

  test('pax times keep nanoseconds; GNU tar long names, long link targets and base-256 owners are read', async () => {
    const root = freshRoot();
    const src = path.join(base, 'gnu-src');
    const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(60)}`;
    mkdirSync(path.join(src, longDir), { recursive: true });
    writeFileSync(path.join(src, longDir, 'file.txt'), 'deep');
    symlinkSync(`${'t'.repeat(150)}/target`, path.join(src, 'longlink'));
    writeFileSync(path.join(src, 'bigid'), 'big uid');
    const run = (args: string[]) => {
      const r = spawnSync(args[0] as string, args.slice(1), { encoding: 'buffer' });
      assert.equal(r.status, 0, r.stderr.toString());
      return r.stdout;
    };
    run(['touch', '-d', '@1600000000.123456789', path.join(src, 'bigid')]);
    const gnu = run(['tar', '--format=gnu', '--numeric-owner', '--owner=3000000', '--group=3000001', '-C', src, '-cf', '-', '.']);
    await applyLayer(root, Readable.from([gnu]), { label: 'gnu layer' });
    assert.equal(readFileSync(path.join(root, longDir, 'file.txt'), 'utf8'), 'deep');
    assert.equal(readlinkSync(path.join(root, 'longlink')), `${'t'.repeat(150)}/target`);
    assert.deepEqual([lstatSync(path.join(root, 'bigid')).uid, lstatSync(path.join(root, 'bigid')).gid], [3000000, 3000001], 'base-256 uid/gid');
    const root2 = freshRoot();
    const pax = run(['tar', '--format=posix', '--numeric-owner', '-C', src, '-cf', '-', 'bigid']);
    await applyLayer(root2, Readable.from([pax]), { label: 'pax layer' });
    const t = statSync(path.join(root2, 'bigid'), { bigint: true });
    assert.equal(t.mtimeNs, 1600000000123456789n, 'nanosecond mtime from the pax record');
  });

  test('.wh.NAME deletes NAME of the lower layers (a directory with its content); whiteouts are not created', async () => {
    const root = freshRoot();
    await apply(root, [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/gone', content: 'x' },
      { name: 'etc/kept', content: 'k' },
      { name: 'var/', type: 'directory' },
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/a/', type: 'directory' },
      { name: 'var/cache/a/b', content: 'b' },
      { name: 'link', type: 'symlink', linkname: '/etc' },
    ]);
    const stats = await apply(root, [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.gone', content: '' },
      { name: 'var/', type: 'directory' },
      { name: 'var/.wh.cache', content: '' },
      { name: '.wh.link', content: '' },
      { name: '.wh.never-was', content: '' },
    ], 'layer 2 of test:1');
    assert.equal(stats.whiteouts, 4);
    assert.deepEqual(listTree(root), ['etc/', 'etc/kept', 'var/']);
  });

  test('.wh.NAME spares an entry of the same layer; a whiteout before a new entry of that name deletes only the lower one', async () => {
    const root = freshRoot();
    await apply(root, [
      { name: 'a', content: 'lower a' },
      { name: 'b/', type: 'directory' },
      { name: 'b/old', content: 'lower b/old' },
    ]);
    await apply(root, [
      { name: 'x', content: 'same layer' },
      { name: '.wh.x', content: '' },
      { name: '.wh.b', content: '' },
      { name: 'b/', type: 'directory' },
      { name: 'b/new', content: 'new' },
    ]);
    assert.deepEqual(listTree(root), ['a', 'b/', 'b/new', 'x']);
    assert.equal(readFileSync(path.join(root, 'x'), 'utf8'), 'same layer');
  });

  test('an opaque whiteout hides every lower entry of its directory, whatever its position; this layer\'s entries survive', async () => {
    const root = freshRoot();
    await apply(root, [
      { name: 'dir/', type: 'directory' },
      { name: 'dir/old', content: 'old' },
      { name: 'dir/sub/', type: 'directory' },
      { name: 'dir/sub/deep', content: 'deep' },
      { name: 'dir/keep/', type: 'directory' },
      { name: 'dir/keep/lower', content: 'lower' },
      { name: 'dir/lnk', type: 'symlink', linkname: 'old' },
      { name: 'other/', type: 'directory' },
      { name: 'other/untouched', content: 'u' },
    ]);
    const stats = await apply(root, [
      { name: 'dir/', type: 'directory', mode: 0o700 },
      { name: 'dir/new', content: 'new' },
      { name: 'dir/keep/', type: 'directory' },
      { name: 'dir/keep/mine', content: 'mine' },
      { name: 'dir/implicit/child', content: 'c' },
      { name: 'dir/.wh..wh..opq', content: '' }, // after its siblings
      { name: 'dir/after', content: 'after' },
    ]);
    assert.equal(stats.whiteouts, 1);
    assert.deepEqual(listTree(root), ['dir/', 'dir/after', 'dir/implicit/', 'dir/implicit/child', 'dir/keep/', 'dir/keep/mine', 'dir/new', 'other/', 'other/untouched']);
    assert.equal(lstatSync(path.join(root, 'dir')).mode & 0o777, 0o700);
  });

  test('an opaque whiteout first in its directory', async () => {
    const root = freshRoot();
    await apply(root, [{ name: 'd/', type: 'directory' }, { name: 'd/x', content: 'x' }]);
    await apply(root, [{ name: 'd/', type: 'directory' }, { name: 'd/.wh..wh..opq', content: '' }, { name: 'd/y', content: 'y' }]);
    assert.deepEqual(listTree(root), ['d/', 'd/y']);
  });

  test('an entry replacing one of another type removes it first; an existing directory stays, with new metadata', async () => {
    const root = freshRoot();
    await apply(root, [
      { name: 'file-to-dir', content: 'f' },
      { name: 'dir-to-file/', type: 'directory' },
      { name: 'dir-to-file/child', content: 'c' },
      { name: 'link-to-dir', type: 'symlink', linkname: '/elsewhere' },
      { name: 'dir-to-link/', type: 'directory' },
      { name: 'dir-to-link/child', content: 'c' },
      { name: 'file-to-link', content: 'f' },
      { name: 'fifo-to-file', type: 'fifo' },
      { name: 'same/', type: 'directory', mode: 0o755, uid: 0 },
      { name: 'same/lower', content: 'l' },
      { name: 'file-to-file', content: 'old content, longer than the new' },
    ]);
    await apply(root, [
      { name: 'file-to-dir/', type: 'directory' },
      { name: 'dir-to-file', content: 'now a file' },
      { name: 'link-to-dir/', type: 'directory' },
      { name: 'link-to-dir/inside', content: 'i' },
      { name: 'dir-to-link', type: 'symlink', linkname: 'file-to-link' },
      { name: 'file-to-link', type: 'symlink', linkname: 'dir-to-file' },
      { name: 'fifo-to-file', content: 'file' },
      { name: 'same/', type: 'directory', mode: 0o711, uid: 42, gid: 43 },
      { name: 'file-to-file', content: 'new' },
    ]);
    const st = (p: string) => lstatSync(path.join(root, p));
    assert.ok(st('file-to-dir').isDirectory());
    assert.ok(st('dir-to-file').isFile());
    assert.equal(readFileSync(path.join(root, 'dir-to-file'), 'utf8'), 'now a file');
    assert.ok(st('link-to-dir').isDirectory());
    assert.ok(existsSync(path.join(root, 'link-to-dir/inside')));
    assert.ok(!existsSync('/elsewhere/inside'));
    assert.ok(st('dir-to-link').isSymbolicLink());
    assert.equal(readlinkSync(path.join(root, 'file-to-link')), 'dir-to-file');
    assert.ok(st('fifo-to-file').isFile());
    assert.ok(st('same').isDirectory());
    assert.equal(st('same').mode & 0o777, 0o711);
    assert.deepEqual([st('same').uid, st('same').gid], [42, 43]);
    assert.ok(existsSync(path.join(root, 'same/lower')), 'the existing directory keeps its lower content');
    assert.equal(readFileSync(path.join(root, 'file-to-file'), 'utf8'), 'new');
  });

  test('a file entry over a hard-linked file replaces that name only: the other link keeps its content', async () => {
    const root = freshRoot();
    await apply(root, [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/shadow', content: 'secret: do not truncate me', mode: 0o600 },
      { name: 'innocent', type: 'link', linkname: 'etc/shadow' },
    ]);
    assert.equal(lstatSync(path.join(root, 'etc/shadow')).nlink, 2);
    await apply(root, [{ name: 'innocent', content: 'pwned' }]);
    assert.equal(readFileSync(path.join(root, 'etc/shadow'), 'utf8'), 'secret: do not truncate me');
    assert.equal(readFileSync(path.join(root, 'innocent'), 'utf8'), 'pwned');
    assert.equal(lstatSync(path.join(root, 'etc/shadow')).nlink, 1);
  });

  test('hard links: to a lower layer\'s file, to a symlink (the link itself); a target that does not exist is an error', async () => {
    const root = freshRoot();
    await apply(root, [{ name: 'lower', content: 'L' }, { name: 'sym', type: 'symlink', linkname: '/nowhere' }]);
    await apply(root, [{ name: 'hl', type: 'link', linkname: 'lower' }, { name: 'hsym', type: 'link', linkname: './sym' }]);
    assert.equal(lstatSync(path.join(root, 'hl')).ino, lstatSync(path.join(root, 'lower')).ino);
    assert.ok(lstatSync(path.join(root, 'hsym')).isSymbolicLink());
    await assert.rejects(apply(root, [{ name: 'dangling', type: 'link', linkname: 'missing/file' }], 'layer 3 of test:1'), (err: Error) => {
      assert.ok(err instanceof LayerApplyError, err.message);
      assert.match(err.message, /^layer 3 of test:1: entry "dangling": .*"missing\/file", which is not in the root filesystem/);
      return true;
    });
  });

  test('a hard link\'s header owner, mode and times go on the shared inode (as Docker applies them)', async () => {
    const root = freshRoot();
    await apply(root, [{ name: 'f', content: 'x', mode: 0o600, uid: 1, gid: 1, mtime: T0 }]);
    await apply(root, [{ name: 'g', type: 'link', linkname: 'f', mode: 0o4750, uid: 2, gid: 3, mtime: T1 }]);
    const st = lstatSync(path.join(root, 'f'));
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid, st.mtimeMs, st.nlink], [0o4750, 2, 3, T1.getTime(), 2]);
  });

  test('device nodes are not created: each is a warning naming it', async () => {
    const root = freshRoot();
    const stats = await apply(root, [
      { name: 'dev/', type: 'directory' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 },
    ], 'layer 1 (sha256:abcd) of dev:1');
    assert.equal(stats.skipped, 2);
    assert.deepEqual(readdirSync(path.join(root, 'dev')), []);
    assert.equal(stats.warnings.length, 2);
    assert.match(stats.warnings[0] as string, /^layer 1 \(sha256:abcd\) of dev:1: entry "dev\/null": character device 1:3 not created/);
    assert.match(stats.warnings[1] as string, /entry "dev\/sda": block device 8:0 not created .*the runtime provides \/dev/);
  });

  test('absolute symlinks inside the image are followed within the root (var/run -> /run)', async () => {
    const root = freshRoot();
    await apply(root, [
      { name: 'run/', type: 'directory' },
      { name: 'var/', type: 'directory' },
      { name: 'var/run', type: 'symlink', linkname: '/run' },
      { name: 'var/run/app.pid', content: '1' },
      { name: 'var/run/sub/x', content: 'x' },
    ]);
    assert.equal(readFileSync(path.join(root, 'run/app.pid'), 'utf8'), '1');
    assert.equal(readFileSync(path.join(root, 'run/sub/x'), 'utf8'), 'x');
    assert.ok(lstatSync(path.join(root, 'var/run')).isSymbolicLink());
  });

  test('unpackImage applies layers in order and sums their stats', async () => {
    const root = path.join(base, 'image-root');
    const l1 = await buildLayer([{ name: 'a', content: 'one' }, { name: 'b', content: 'b' }]);
    const l2 = await buildLayer([{ name: 'a', content: 'two' }, { name: '.wh.b', content: '' }]);
    const seen: string[] = [];
    const total = await unpackImage(
      root,
      [
        { label: 'layer 1 of img', stream: () => layerStream(l1) },
        { label: 'layer 2 of img', stream: layerStream(l2) },
      ],
      { onLayer: (label) => seen.push(label) },
    );
    assert.deepEqual(seen, ['layer 1 of img', 'layer 2 of img']);
    assert.equal(total.layers.length, 2);
    assert.equal(total.files, 3);
    assert.equal(total.whiteouts, 1);
    assert.deepEqual(listTree(root), ['a']);
    assert.equal(readFileSync(path.join(root, 'a'), 'utf8'), 'two');
  });

  test('a truncated layer, a compressed one and garbage are format errors naming the layer', async () => {
    const root = freshRoot();
    const tar = await buildLayer([{ name: 'f', content: 'x'.repeat(5000) }]);
    await assert.rejects(applyLayer(root, Readable.from([tar.subarray(0, 3000)]), { label: 'layer 9 of t' }), (err: Error) => err instanceof LayerFormatError && /^layer 9 of t: .*truncated/.test(err.message));
    const { gzipSync } = await import('node:zlib');
    await assert.rejects(applyLayer(root, Readable.from([gzipSync(tar)]), { label: 'layer 9 of t' }), (err: Error) => err instanceof LayerFormatError && /^layer 9 of t: the layer is not a tar archive but gzip-compressed data/.test(err.message));
    await assert.rejects(applyLayer(root, Readable.from([Buffer.alloc(1024, 7)]), { label: 'layer 9 of t' }), LayerFormatError);
  });
});

// ---- the hostile corpus ----------------------------------------------------------------

interface Snapshot {
  [p: string]: string;
}

/** Everything under `dir` except the roots: type, mode, size, mtime (ns) and content hash. */
function snapshotOutside(dir: string): Snapshot {
  const out: Snapshot = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (p === path.join(base, 'roots')) continue;
      const st = lstatSync(p, { bigint: true });
      let what = `${st.mode.toString(8)} ${st.size} ${st.mtimeNs} ${st.nlink}`;
      if (st.isFile()) what += ` ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
      if (st.isSymbolicLink()) what += ` -> ${readlinkSync(p)}`;
      out[path.relative(base, p)] = what;
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

describe('hostile layers', { skip }, () => {
  const canary = path.join(base, 'canary');
  mkdirSync(canary, { recursive: true });
  writeFileSync(path.join(canary, 'canary.txt'), 'the canary sings\n');
  mkdirSync(path.join(base, 'roots'), { recursive: true });
  const probe = path.join(base, 'roots', 'probe', 'rootfs');
  const up = path.relative(probe, canary); // ../../../canary
  const cases = hostileCorpus(up, canary);

  for (const c of cases) {
    test(`${c.name}: ${'refused' in c.expect ? 'refused' : 'kept inside the root'}, nothing outside touched`, async () => {
      // every root sits at the same depth, so `up` reaches the canary from each
      const root = path.join(base, 'roots', `h${++counter}`, 'rootfs');
      mkdirSync(root, { recursive: true });
      assert.equal(path.relative(root, canary), up);
      if (c.lower) await apply(root, c.lower, 'layer 1 of hostile:1');
      const before = snapshotOutside(base);
      const run = apply(root, c.entries, 'layer 2 of hostile:1');
      if ('refused' in c.expect) {
        const entry = c.expect.refused;
        await assert.rejects(run, (err: Error) => {
          assert.ok(err instanceof LayerEscapeError, `${err.name}: ${err.message}`);
          assert.equal(err.entry, entry);
          assert.ok(
            err.message.startsWith(`layer 2 of hostile:1: entry ${JSON.stringify(entry)} escapes the root filesystem`) && err.message.endsWith('; refused'),
            err.message,
          );
          return true;
        });
      } else {
        await run;
        const inside = path.join(root, c.expect.inside);
        assert.ok(lstatSync(inside).isFile(), `${c.expect.inside} was written inside the root`);
      }
      assert.deepEqual(snapshotOutside(base), before, 'nothing outside the root changed');
      assert.equal(readFileSync(path.join(canary, 'canary.txt'), 'utf8'), 'the canary sings\n');
      assert.deepEqual(readdirSync(canary), ['canary.txt']);
    });
  }

  test('the escape message names the layer, the entry and the symlink', async () => {
    const root = freshRoot();
    const up2 = path.relative(root, canary);
    await assert.rejects(
      apply(root, [{ name: 'evil', type: 'symlink', linkname: up2 }, { name: 'evil/pwned', content: 'x' }], 'layer 2 (sha256:abcd…) of app:1'),
      { message: `layer 2 (sha256:abcd…) of app:1: entry "evil/pwned" escapes the root filesystem (through symlink "evil" -> "${up2}", which climbs above the root); refused` },
    );
    await assert.rejects(apply(root, [{ name: '../../etc/cron.d/x', content: 'x' }], 'layer 2 of app:1'), {
      message: 'layer 2 of app:1: entry "../../etc/cron.d/x" escapes the root filesystem; refused',
    });
  });
});

// ---- reading inside a root ----------------------------------------------------------------

describe('openInRoot / readFileInRoot', { skip }, () => {
  test('symlinks and `..` resolve inside the root, never to the host', () => {
    const root = freshRoot();
    mkdirSync(path.join(root, 'etc'));
    writeFileSync(path.join(root, 'etc/real-passwd'), 'container:x:1:1::/:/bin/sh\n');
    symlinkSync('/etc/real-passwd', path.join(root, 'etc/passwd')); // absolute: the container's, not the host's
    symlinkSync('../../../../../../../etc/real-passwd', path.join(root, 'etc/climb'));
    symlinkSync('/etc', path.join(root, 'etc/self'));
    assert.equal(readFileInRoot(root, '/etc/passwd').toString(), 'container:x:1:1::/:/bin/sh\n');
    assert.equal(readFileInRoot(root, 'etc/climb').toString(), 'container:x:1:1::/:/bin/sh\n');
    assert.equal(readFileInRoot(root, '../../etc/self/self/real-passwd').toString(), 'container:x:1:1::/:/bin/sh\n');
    assert.throws(() => readFileInRoot(root, '/etc/shadow'), (err: Error) => err instanceof SysError && err.code === 'ENOENT');
    assert.throws(() => readFileInRoot(root, '/etc'), /not a regular file/);
    symlinkSync('/proc/self/root/etc/hostname', path.join(root, 'etc/magic'));
    assert.throws(() => readFileInRoot(root, '/etc/magic'), SysError);
    const fd = openInRoot(root, 'etc/passwd');
    try {
      assert.equal(readFileSync(fd, 'utf8'), 'container:x:1:1::/:/bin/sh\n');
    } finally {
      closeSync(fd);
    }
  });
});

function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      out.push(st.isDirectory() ? `${r}/` : r);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(root, '');
  return out.sort();
}
