// Repository format 2 on a local directory: encryption end to end, tampering of each kind of
// object, the key commands, the password sources, and format 1 still read.
import { access, TEST_PASSWORD } from '../repo-access.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importArchive } from '../../src/ops/image-import.js';
import { checkRepository } from '../../src/repo/check.js';
import { reachableBlobs } from '../../src/ops/reachable.js';
import { Repository } from '../../src/repo/repository.js';
import { LocalBackend } from '../../src/repo/backend/local.js';
import { WrongPasswordError } from '../../src/repo/keys.js';
import { AeadSealer, newMasterKey, SEGMENT } from '../../src/repo/crypto.js';
import { VolumeStore } from '../../src/volume/store.js';
import { backupTree } from '../../src/volume/archiver.js';
import { restoreTree } from '../../src/volume/restorer.js';
import { fakeImage, legacySaveArchive } from './support/archives.js';
import type { Digest } from '../../src/util/digest.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MAIN = join(root, 'dist/src/cli/main.js');
const FIXTURE_V1 = join(root, 'test/fixtures/repo-v1');
const SECRET = 'plaintext-marker-7f3a9c-of-a-fixture-file';

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsbak-v2-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .filter((f) => !f.startsWith('tmp/'));
}

function run(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** An encrypted repository holding an imported image (loose blobs) and a volume (packs), its index and two snapshots. */
async function populated(): Promise<{ dir: string; repoDir: string; diffIDs: Digest[]; tree: Digest }> {
  const dir = tmp();
  const repoDir = join(dir, 'repo');
  await Repository.init(new LocalBackend(repoDir), access);
  const img = await fakeImage(SECRET, 2);
  await importArchive(await open(repoDir), Readable.from([await legacySaveArchive([{ image: img, tags: ['secret:1'] }])]), 'x.tar', []);
  const src = join(dir, 'src');
  mkdirSync(join(src, 'sub'), { recursive: true });
  writeFileSync(join(src, 'note.txt'), `${SECRET}\n`.repeat(50));
  writeFileSync(join(src, 'sub', 'big.bin'), Buffer.alloc(300_000, SECRET));
  const repo = await open(repoDir);
  const store = await VolumeStore.forRepository(repo);
  const result = await backupTree(src, store);
  await store.flush();
  await store.close();
  await repo.saveSnapshot({ version: 1, time: new Date().toISOString(), hostname: 'h', tags: [], tool: 't', source: { kind: 'archive', path: 'x' }, images: [], volumes: [], containers: [] });
  return { dir, repoDir, diffIDs: img.diffIDs as Digest[], tree: result.tree };
}

const open = (repoDir: string) => Repository.open(new LocalBackend(repoDir), access);

test('format 2: nothing in the repository directory reads as a fixture file or names a fixture diffID', async () => {
  const { repoDir, diffIDs, tree } = await populated();
  const all = files(repoDir);
  assert.ok(all.some((f) => f.startsWith('keys/')) && all.some((f) => f.startsWith('data/')) && all.some((f) => f.startsWith('blobs/')), all.join(' '));
  const config = readFileSync(join(repoDir, 'config'));
  assert.notEqual(config[0], 0x7b, 'the config is sealed');
  for (const f of all) {
    const bytes = readFileSync(join(repoDir, f));
    assert.ok(!bytes.includes(SECRET), `${f} holds fixture plaintext`);
    for (const d of [...diffIDs, tree]) {
      const hex = d.slice(7);
      assert.ok(!f.includes(hex) && !bytes.includes(hex), `${f} names ${d}`);
    }
  }
  const repo = await open(repoDir);
  const check = await checkRepository(repo, { readData: 1, reachable: reachableBlobs });
  assert.deepEqual(check.errors, []);
  assert.ok(check.blobsRead >= 5);
  const restored = join(tmp(), 'out');
  await restoreTree(tree, await VolumeStore.forRepository(repo), restored, { overwrite: false });
  assert.equal(readFileSync(join(restored, 'note.txt'), 'utf8'), `${SECRET}\n`.repeat(50));
});

test('format 2: a wrong password is its own error (exit 12), and no password source is a clear error', async () => {
  const { repoDir } = await populated();
  await assert.rejects(Repository.open(new LocalBackend(repoDir), { password: async () => 'wrong' }), (err: unknown) => {
    assert.ok(err instanceof WrongPasswordError);
    assert.equal(err.exitCode, 12);
    assert.match(err.message, /no key in keys\/ .* opens with this password/);
    return true;
  });
  const r = await run(['snapshots', '--repo', repoDir], { TSBAK_PASSWORD: 'wrong' });
  assert.equal(r.code, 12, r.stderr);
  assert.match(r.stderr, /wrong password/);
  const none = await run(['snapshots', '--repo', repoDir], { TSBAK_PASSWORD: undefined, TSBAK_PASSWORD_FILE: undefined });
  assert.equal(none.code, 2, none.stderr);
  assert.match(none.stderr, /needs a password: set TSBAK_PASSWORD or TSBAK_PASSWORD_FILE, or give --password-file/);
  const pwFile = join(tmp(), 'pw');
  writeFileSync(pwFile, `${TEST_PASSWORD}\n`);
  const viaFile = await run(['snapshots', '--json', '--repo', repoDir, '--password-file', pwFile], { TSBAK_PASSWORD: 'wrong' });
  assert.equal(viaFile.code, 0, viaFile.stderr);
});

test('format 2: a flipped byte in each kind of object, and a swapped object, are refused and named', async () => {
  const { repoDir } = await populated();
  const all = files(repoDir);
  const pick = (prefix: string) => all.filter((f) => f.startsWith(prefix)).sort()[0] as string;
  const name = (f: string) => f.slice(f.lastIndexOf('/') + 1);
  const flip = async (file: string, at: (len: number) => number, expect: RegExp, attempt: () => Promise<unknown>) => {
    const path = join(repoDir, file);
    const original = readFileSync(path);
    const bad = Buffer.from(original);
    const i = at(bad.length);
    bad[i] = (bad[i] as number) ^ 0x40;
    writeFileSync(path, bad);
    try {
      await assert.rejects(attempt(), expect, `a flipped byte in ${file}`);
    } finally {
      writeFileSync(path, original);
    }
  };
  const readAll = async () => {
    const repo = await open(repoDir);
    await repo.snapshots();
    const report = await checkRepository(repo, { readData: 1, reachable: reachableBlobs });
    if (report.errors.length) throw new Error(report.errors.join('\n'));
  };
  // The config and the key file.
  await flip('config', (n) => n - 3, /config failed authentication/, () => open(repoDir));
  await flip(pick('keys/'), (n) => n >> 1, new RegExp(`key file keys/${name(pick('keys/'))} does not match its name`), () => open(repoDir));
  // A snapshot, an index file.
  const snap = pick('snapshots/');
  await flip(snap, (n) => n - 1, new RegExp(`snapshot/${name(snap)} failed authentication`), readAll);
  const idx = pick('index/');
  await flip(idx, (n) => n - 20, new RegExp(`index/${name(idx)} failed authentication`), readAll);
  // A loose blob (a layer), a pack (one of its blobs, and its trailer).
  const blob = pick('blobs/');
  await flip(blob, (n) => n - 5, new RegExp(`blob/${name(blob)} failed authentication`), readAll);
  const pack = pick('data/');
  await flip(pack, () => 40, /blob sha256:[0-9a-f]{64} in pack [0-9a-f]{64}: blob\/[0-9a-f]{64} failed authentication/, readAll);
  const header = async () => (await import('../../src/repo/packs.js')).readPackHeader((await open(repoDir)).objects, name(pack));
  await flip(pack, (n) => n - 10, new RegExp(`pack/${name(pack)} failed authentication`), header);
  // A swap: the right ciphertext of one layer under another layer's name.
  const [b1, b2] = all.filter((f) => f.startsWith('blobs/')).sort();
  const c1 = readFileSync(join(repoDir, b1 as string));
  const c2 = readFileSync(join(repoDir, b2 as string));
  writeFileSync(join(repoDir, b1 as string), c2);
  try {
    await assert.rejects(readAll(), new RegExp(`blob/${name(b1 as string)} failed authentication`));
  } finally {
    writeFileSync(join(repoDir, b1 as string), c1);
  }
  // A swapped snapshot: another snapshot's ciphertext under its name.
  const snaps = all.filter((f) => f.startsWith('snapshots/'));
  const other = join(repoDir, 'snapshots', 'f'.repeat(64));
  writeFileSync(other, readFileSync(join(repoDir, snaps[0] as string)));
  try {
    await assert.rejects((await open(repoDir)).loadSnapshot('f'.repeat(64)), new RegExp(`snapshot/${'f'.repeat(64)} failed authentication`));
  } finally {
    rmSync(other);
  }
  await readAll();
});

test('segmented sealing: truncation, reordering, extension and another name are all refused', async () => {
  const sealer = new AeadSealer(newMasterKey());
  const plain = Buffer.alloc(SEGMENT * 3 + 100, 7);
  const sealed = sealer.seal('blob/x', plain);
  assert.deepEqual(sealer.open('blob/x', sealed), plain);
  const seg = SEGMENT + 16;
  const cases: [string, Buffer][] = [
    ['truncated at a segment boundary', sealed.subarray(0, 16 + 2 * seg)],
    ['truncated inside', sealed.subarray(0, sealed.length - 7)],
    ['two segments swapped', Buffer.concat([sealed.subarray(0, 16), sealed.subarray(16 + seg, 16 + 2 * seg), sealed.subarray(16, 16 + seg), sealed.subarray(16 + 2 * seg)])],
    ['extended', Buffer.concat([sealed, sealed.subarray(16, 16 + seg)])],
  ];
  for (const [what, bytes] of cases) assert.throws(() => sealer.open('blob/x', bytes), /failed authentication/, what);
  assert.throws(() => sealer.open('blob/y', sealed), /blob\/y failed authentication/, 'another name');
  // The stream form reads the buffer form and refuses the same damage.
  const streamed = async (bytes: Buffer, aad: string) => {
    const out: Buffer[] = [];
    const s = Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]).pipe(sealer.openStream(aad));
    for await (const c of s) out.push(c as Buffer);
    return Buffer.concat(out);
  };
  assert.deepEqual(await streamed(sealed, 'blob/x'), plain);
  for (const [what, bytes] of cases) await assert.rejects(streamed(bytes, 'blob/x'), /failed authentication/, what);
  const sealedStream: Buffer[] = [];
  for await (const c of Readable.from([plain.subarray(0, 5), plain.subarray(5)]).pipe(sealer.sealStream(() => 'blob/x'))) sealedStream.push(c as Buffer);
  assert.deepEqual(sealer.open('blob/x', Buffer.concat(sealedStream)), plain);
  assert.deepEqual(sealer.open('blob/x', sealer.seal('blob/x', Buffer.alloc(0))), Buffer.alloc(0));
});

test('tsbak key add, list, remove and passwd, end to end', async () => {
  const dir = tmp();
  const repoDir = join(dir, 'repo');
  const init = await run(['init', '--json', '--repo', repoDir]);
  assert.equal(init.code, 0, init.stderr);
  assert.equal((JSON.parse(init.stdout) as { encrypted: boolean }).encrypted, true);
  const list = async (env: Record<string, string> = {}) => {
    const r = await run(['key', 'list', '--json', '--repo', repoDir], env);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { keys: { name: string; current: boolean; hostname: string }[] }).keys;
  };
  const first = await list();
  assert.equal(first.length, 1);
  assert.equal(first[0]?.current, true);
  const add = await run(['key', 'add', '--json', '--repo', repoDir], { TSBAK_NEW_PASSWORD: 'second' });
  assert.equal(add.code, 0, add.stderr);
  const second = (JSON.parse(add.stdout) as { added: string }).added;
  assert.equal((await list()).length, 2);
  assert.equal((await list({ TSBAK_PASSWORD: 'second' })).find((k) => k.current)?.name, second);
  // The key in use cannot be removed; the other one can, by prefix.
  const self = await run(['key', 'remove', first[0]!.name.slice(0, 10), '--repo', repoDir]);
  assert.equal(self.code, 2);
  assert.match(self.stderr, /is the one in use/);
  const rm = await run(['key', 'remove', first[0]!.name.slice(0, 10), '--repo', repoDir], { TSBAK_PASSWORD: 'second' });
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal((await run(['snapshots', '--repo', repoDir])).code, 12, 'the removed password no longer opens it');
  // The last key cannot be removed (even when it is not the one in use: there is none other).
  const last = await run(['key', 'remove', second.slice(0, 10), '--repo', repoDir], { TSBAK_PASSWORD: 'second' });
  assert.equal(last.code, 2);
  // passwd: the new password opens it, the old one no longer does.
  const pw = join(dir, 'new.pass');
  writeFileSync(pw, 'third\n');
  const passwd = await run(['key', 'passwd', '--json', '--new-password-file', pw, '--repo', repoDir], { TSBAK_PASSWORD: 'second' });
  assert.equal(passwd.code, 0, passwd.stderr);
  assert.equal((await list({ TSBAK_PASSWORD: 'third' })).length, 1);
  assert.equal((await run(['snapshots', '--repo', repoDir], { TSBAK_PASSWORD: 'second' })).code, 12);
});

test('--insecure-no-password makes an unencrypted format-2 repository; the default repository gets a generated password file', async () => {
  const dir = tmp();
  const plain = join(dir, 'plain');
  const r = await run(['init', '--json', '--insecure-no-password', '--repo', plain], { TSBAK_PASSWORD: undefined });
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { encrypted: boolean; version: number }).encrypted, false);
  assert.equal(readFileSync(join(plain, 'config')).readUInt32LE(0), 0xfd2fb528, 'a zstd frame, not sealed');
  assert.equal((await run(['snapshots', '--repo', plain], { TSBAK_PASSWORD: undefined })).code, 0);
  // The embedded default (XDG_DATA_HOME for a non-root user; root uses /var/lib/tsbak): created on first use.
  const home = join(dir, 'xdg');
  const env = { XDG_DATA_HOME: home, TSBAK_PASSWORD: undefined, TSBAK_REPOSITORY: undefined };
  if (process.getuid?.() === 0) return; // the default is /var/lib/tsbak for root: not touched by a test
  const first = await run(['snapshots'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /created a random password for the default repository in .*repository\.password; keep a copy/);
  const file = join(home, 'tsbak', 'repository.password');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const again = await run(['snapshots'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /created a random password/);
});

test('a format-1 repository (written by tsbak before format 2) still reads', async () => {
  const dir = join(tmp(), 'v1');
  cpSync(FIXTURE_V1, dir, { recursive: true });
  const repo = await Repository.open(new LocalBackend(dir), { password: async () => assert.fail('format 1 needs no password') });
  assert.equal(repo.config.version, 1);
  assert.equal(repo.encrypted, false);
  const [snap] = await repo.snapshots();
  assert.equal(snap?.id, 'ef1c4354e598c33a291302906217cd0661507d8b72015c0e6bc1391a1481b6ff');
  assert.equal(snap?.snapshot.hostname, 'v1host');
  const blobs = await repo.blobs();
  const layer = await blobs.readBuffer('sha256:abcfd79bce93090c2e1110242428d558de0b9b360afc97e9ff8edf0dcccb9658');
  assert.equal(layer.toString(), 'layer-content-v1\n');
  const out = join(dirname(dir), 'out');
  await restoreTree(snap!.snapshot.volumes[0]!.tree, await VolumeStore.forRepository(repo), out, { overwrite: false });
  assert.equal(readFileSync(join(out, 'a.txt'), 'utf8'), 'hello v1 fixture\n');
  assert.equal(statSync(join(out, 'sub', 'big.bin')).size, 300_000);
  const report = await checkRepository(repo, { readData: 1, reachable: reachableBlobs });
  assert.deepEqual(report.errors, []);
  // The CLI reads it too, without a password.
  const r = await run(['snapshots', '--json', '--repo', dir], { TSBAK_PASSWORD: undefined });
  assert.equal(r.code, 0, r.stderr);
  renameSync(dir, dir + '.done');
});

test('--host (or TSBAK_HOST) sets the host a snapshot is recorded under', async () => {
  const dir = tmp();
  const repoDir = join(dir, 'repo');
  assert.equal((await run(['init', '--repo', repoDir])).code, 0);
  const archive = join(dir, 'a.tar');
  writeFileSync(archive, await legacySaveArchive([{ image: await fakeImage('host', 1), tags: ['host:1'] }]));
  assert.equal((await run(['import', archive, '--repo', repoDir, '--host', 'host-a'])).code, 0);
  assert.equal((await run(['import', archive, '--repo', repoDir], { TSBAK_HOST: 'host-b' })).code, 0);
  const r = await run(['snapshots', '--json', '--repo', repoDir]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { snapshots?: { hostname: string }[] } | { hostname: string }[];
  const list = Array.isArray(doc) ? doc : (doc.snapshots ?? []);
  assert.deepEqual(list.map((s) => s.hostname).sort(), ['host-a', 'host-b']);
});
