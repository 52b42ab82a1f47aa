// The registry transport against the real distribution registry (Debian docker-registry):
// push from a repository, docker pull + run, skopeo cross-checks, re-push uploads nothing,
// htpasswd and token auth, pull → push keeps a foreign manifest digest, clear errors.
import { access } from '../repo-access.js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authRegistry, dockerCli, fixtures, integrationSkip, registry, tmpDir } from '../helpers.js';
import { newRepo, tsbakJson } from './support.js';
import { freePort } from '../env/util.js';
import { startRegistry } from '../env/registry.js';
import { openBackend } from '../../src/repo/locate.js';
import { Repository } from '../../src/repo/repository.js';
import type { StoredSnapshot } from '../../src/repo/snapshot.js';
import { RegistryClient } from '../../src/image/registry/client.js';
import { RegistryError } from '../../src/image/registry/errors.js';
import { pushImage } from '../../src/image/registry/push.js';
import { pullImage } from '../../src/image/registry/pull.js';
import { CompressedDigestCache } from '../../src/image/registry/compress.js';
import { MediaType } from '../../src/image/model.js';
import { pushSnapshotImages, RegistryPushPartialError } from '../../src/ops/registry-push.js';
import { backupRegistryImages } from '../../src/ops/registry-pull.js';
import { PartialFailureError } from '../../src/errors.js';

const skip = integrationSkip();

interface SkopeoInspect {
  Digest: string;
  Layers: string[];
}

function skopeo(args: string[]): string {
  const r = spawnSync('skopeo', args, { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `skopeo ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function inspect(ref: string, creds?: string): SkopeoInspect {
  return JSON.parse(skopeo(['inspect', '--tls-verify=false', ...(creds ? ['--creds', creds] : []), `docker://${ref}`])) as SkopeoInspect;
}

/** The manifest as the registry serves it (skopeo --raw). */
function rawManifest(ref: string): { mediaType?: string; config: { mediaType: string }; layers: { mediaType: string; digest: string }[] } {
  return JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])) as ReturnType<typeof rawManifest>;
}

function diffIDsOf(ref: string, creds?: string): string[] {
  const config = JSON.parse(skopeo(['inspect', '--config', '--tls-verify=false', ...(creds ? ['--creds', creds] : []), `docker://${ref}`])) as {
    rootfs: { diff_ids: string[] };
  };
  return config.rootfs.diff_ids;
}

async function engineLayers(ref: string): Promise<string[]> {
  const r = await dockerCli(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

async function openRepo(path: string): Promise<Repository> {
  return Repository.open(openBackend(path), access);
}

/** One repository with the app and tool fixtures, shared by the push tests. */
let shared: { path: string; repo: Repository; stored: StoredSnapshot } | undefined;

before(async () => {
  if (skip) return;
  const fx = fixtures();
  const path = await newRepo();
  await tsbakJson(['backup', '--image', fx.app.name, '--image', fx.tool.name, '--repo', path]);
  const repo = await openRepo(path);
  shared = { path, repo, stored: await repo.resolveSnapshot('latest') };
});

test('push to a namespace: docker pulls and runs it, skopeo agrees, a second push uploads no blob', { skip }, async () => {
  const fx = fixtures();
  const reg = registry();
  const { repo, stored } = shared!;
  const client = new RegistryClient(reg);
  const first = await pushSnapshotImages(repo, stored, `registry://${reg}/team`, { client });
  assert.equal(first.failed, 0);
  const byName = new Map(first.images.map((i) => [i.names[0], i]));
  const app = byName.get(fx.app.name)!;
  const tool = byName.get(fx.tool.name)!;
  assert.deepEqual(app.pushed.map((p) => p.reference), [`${reg}/team/app:1`]);
  assert.deepEqual(tool.pushed.map((p) => p.reference), [`${reg}/team/tool:1`]);
  assert.ok(app.uploaded > 0);
  // tool shares the base layer with app: mounted across repositories, not uploaded again.
  assert.ok(tool.mounted >= 1, `tool: ${JSON.stringify(tool)}`);

  // Docker 20.10 treats 127.0.0.0/8 registries as insecure (plain HTTP) by default.
  const ref = `${reg}/team/app:1`;
  await dockerCli(['rmi', ref]);
  const pull = await dockerCli(['pull', ref]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stdout, new RegExp(`Digest: ${app.pushed[0]!.digest}`));
  const run = await dockerCli(['run', '--rm', '--network', 'none', ref]);
  assert.equal(run.stdout, 'hello from app\n', run.stderr);
  const id = await dockerCli(['image', 'inspect', '--format', '{{.Id}}', ref]);
  assert.equal(id.stdout.trim(), fx.app.id, 'same image ID (config) as the original');
  await dockerCli(['rmi', ref]);

  // skopeo: same manifest digest, the config's diff_ids are the engine's layers, layer blobs gzip.
  const seen = inspect(`${reg}/team/tool:1`);
  assert.equal(seen.Digest, tool.pushed[0]!.digest);
  assert.deepEqual(diffIDsOf(`${reg}/team/tool:1`), await engineLayers(fx.tool.name));
  const manifest = rawManifest(`${reg}/team/tool:1`);
  assert.equal(manifest.mediaType, MediaType.dockerManifest);
  assert.equal(manifest.config.mediaType, MediaType.dockerConfig);
  assert.deepEqual(manifest.layers.map((l) => l.mediaType), seen.Layers.map(() => MediaType.dockerLayerGzip));

  // Again, same session: every blob HEADs present, nothing uploaded, same digests.
  const uploadsBefore = client.stats.blobUploads;
  const second = await pushSnapshotImages(repo, stored, `registry://${reg}/team`, { client });
  assert.equal(client.stats.blobUploads, uploadsBefore, 'no blob upload on the second push');
  assert.equal(second.uploadedBytes, 0);
  for (const img of second.images) {
    assert.equal(img.uploaded + img.mounted, 0, JSON.stringify(img));
    assert.equal(img.pushed[0]!.digest, byName.get(img.names[0])!.pushed[0]!.digest);
  }

  // As a new process would: fresh client, no cached compressed digests. Compression is
  // deterministic, so the layers compress to the same blobs, HEAD finds them, the digest holds.
  const fresh = new RegistryClient(reg);
  const record = stored.snapshot.images.find((i) => i.names.includes(fx.app.name))!;
  const again = await pushImage(fresh, record, await repo.blobs(), { repository: 'team/app', tag: '1' }, { cache: new CompressedDigestCache() });
  assert.equal(again.digest, app.pushed[0]!.digest);
  assert.deepEqual(again.blobs, { uploaded: 0, mounted: 0, existing: record.layers.length + 1, uploadedBytes: 0 });
  assert.equal(fresh.stats.blobUploads, 0);
});

test('zstd layers with an OCI manifest: skopeo sees zstd, our pull decompresses them to the same diffIDs', { skip }, async () => {
  const fx = fixtures();
  const reg = registry();
  const { repo, stored } = shared!;
  const client = new RegistryClient(reg);
  const result = await pushSnapshotImages(repo, stored, `registry://${reg}/zstd/app:1`, { client, images: [fx.app.name], compression: 'zstd' });
  assert.equal(result.images[0]!.pushed[0]!.reference, `${reg}/zstd/app:1`);
  const seen = inspect(`${reg}/zstd/app:1`);
  const manifest = rawManifest(`${reg}/zstd/app:1`);
  assert.equal(manifest.mediaType, MediaType.ociManifest);
  assert.deepEqual(manifest.layers.map((l) => l.mediaType), seen.Layers.map(() => MediaType.ociLayerZstd));
  assert.deepEqual(diffIDsOf(`${reg}/zstd/app:1`), await engineLayers(fx.app.name));

  const other = await openRepo(await newRepo());
  const blobs = await other.blobs();
  const pulled = await pullImage(client, { repository: 'zstd/app', tag: '1' }, blobs);
  assert.deepEqual(pulled.record.layers.map((l) => l.diffID), await engineLayers(fx.app.name));
  assert.equal(pulled.record.config, fx.app.id);
  await Promise.all(pulled.blobs.map((b) => blobs.discard(b.staged)));

  const ref = `${reg}/zstd/app:1`;
  const dpull = await dockerCli(['pull', ref]);
  assert.equal(dpull.code, 0, dpull.stderr);
  const run = await dockerCli(['run', '--rm', '--network', 'none', ref]);
  assert.equal(run.stdout, 'hello from app\n', run.stderr);
  await dockerCli(['rmi', ref]);
});

test('an index is resolved to this host\'s platform (linux/amd64); an index without it is a clear error', { skip }, async () => {
  const fx = fixtures();
  const reg = registry();
  const { repo, stored } = shared!;
  const client = new RegistryClient(reg);
  await pushSnapshotImages(repo, stored, `registry://${reg}/idx/multi:app`, { client, images: [fx.app.name] });
  await pushSnapshotImages(repo, stored, `registry://${reg}/idx/multi:tool`, { client, images: [fx.tool.name] });
  const app = await client.getManifest('idx/multi', 'app');
  const tool = await client.getManifest('idx/multi', 'tool');
  const entry = (m: typeof app, architecture: string) => ({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, platform: { os: 'linux', architecture } });
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [entry(tool, 'arm64'), entry(app, 'amd64')] }));
  const indexDigest = await client.putManifest('idx/multi', 'v1', index, MediaType.ociIndex);

  const blobs = await repo.blobs();
  const pulled = await pullImage(client, { repository: 'idx/multi', tag: 'v1' }, blobs);
  assert.equal(pulled.record.config, fx.app.id, 'the amd64 entry (app), not the arm64 one (tool)');
  assert.equal(pulled.record.distribution?.manifest, app.digest);
  assert.deepEqual(pulled.record.repoDigests, [`${reg}/idx/multi@${indexDigest}`]);
  assert.deepEqual(pulled.record.names, [`${reg}/idx/multi:v1`]);
  await Promise.all(pulled.blobs.map((b) => blobs.discard(b.staged)));

  const armOnly = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [entry(tool, 'arm64')] }));
  await client.putManifest('idx/multi', 'arm', armOnly, MediaType.ociIndex);
  await assert.rejects(pullImage(client, { repository: 'idx/multi', tag: 'arm' }, blobs), /127\.0\.0\.1:\d+\/idx\/multi:arm has no linux\/amd64 image \(it offers linux\/arm64\)/);
});

test('htpasswd registry: wrong password is a clear 401, the right one (flag or docker config) works', { skip }, async () => {
  const fx = fixtures();
  const auth = authRegistry();
  const { repo, stored } = shared!;
  const target = `registry://${auth.hostPort}/secure`;

  // Both images fail alike: the one error, not a summary per image.
  const wrong = pushSnapshotImages(repo, stored, target, { credentials: { username: auth.user, password: 'wrong' } });
  await assert.rejects(wrong, (err: unknown) => {
    assert.ok(err instanceof RegistryError, String(err));
    assert.equal(err.kind, 'auth');
    assert.equal(err.exitCode, 1);
    assert.match(err.message, new RegExp(`registry ${auth.hostPort} refused the credentials for secure/app \\(check --registry-user`));
    return true;
  });

  const none = pushSnapshotImages(repo, stored, target, { images: [fx.app.name], client: new RegistryClient(auth.hostPort, { dockerConfigDir: tmpDir() }) });
  await assert.rejects(none, /registry 127\.0\.0\.1:\d+ requires credentials for secure\/app: pass --registry-user/);

  const ok = await pushSnapshotImages(repo, stored, target, { images: [fx.app.name], credentials: { username: auth.user, password: auth.password } });
  const digest = ok.images[0]!.pushed[0]!.digest;
  assert.equal(inspect(`${auth.hostPort}/secure/app:1`, `${auth.user}:${auth.password}`).Digest, digest);

  // Credentials as `docker login` leaves them: auths[host].auth = base64(user:password).
  const configDir = tmpDir();
  writeFileSync(
    join(configDir, 'config.json'),
    JSON.stringify({ auths: { [auth.hostPort]: { auth: Buffer.from(`${auth.user}:${auth.password}`).toString('base64') } } }),
  );
  const viaConfig = new RegistryClient(auth.hostPort, { dockerConfigDir: configDir });
  const pulled = await pullImage(viaConfig, { repository: 'secure/app', tag: '1' }, await repo.blobs());
  assert.equal(pulled.record.distribution?.manifest, digest);
  assert.equal(pulled.downloadedBytes > 0, true);
  await Promise.all(pulled.blobs.map(async (b) => (await repo.blobs()).discard(b.staged)));
});

test('pull → push keeps a foreign manifest digest (skopeo-made manifest, not ours)', { skip }, async () => {
  const fx = fixtures();
  const reg = registry();
  const dir = tmpDir('tsbak-foreign-');
  const saved = join(dir, 'tool.tar');
  assert.equal((await dockerCli(['save', '-o', saved, fx.tool.name])).code, 0);
  skopeo(['copy', '--dest-tls-verify=false', `docker-archive:${saved}`, `docker://${reg}/foreign/tool:1`]);
  const original = inspect(`${reg}/foreign/tool:1`);

  const path = await newRepo();
  const repo = await openRepo(path);
  const clients = new Map<string, RegistryClient>();
  const backup = await backupRegistryImages(repo, [`registry://${reg}/foreign/tool:1`], { clients });
  assert.equal(backup.images[0]!.manifest, original.Digest);
  const stored = await repo.resolveSnapshot(backup.snapshotId);
  assert.deepEqual(stored.snapshot.source, { kind: 'registry', host: reg });
  const record = stored.snapshot.images[0]!;
  assert.deepEqual(record.names, [`${reg}/foreign/tool:1`]);
  assert.equal(record.config, fx.tool.id);
  assert.deepEqual(record.layers.map((l) => l.diffID), await engineLayers(fx.tool.name));
  assert.deepEqual(record.distribution?.layers.map((l) => l.digest), original.Layers);
  const blobs = await repo.blobs();
  for (const d of [record.distribution!.manifest, ...original.Layers]) assert.ok(blobs.has(d), `${d} stored`);

  // Unchanged second backup: the manifest is fetched, no blob is downloaded, nothing new is stored.
  const client = clients.get(reg)!;
  const downloads = client.stats.blobDownloads;
  const second = await backupRegistryImages(repo, [`registry://${reg}/foreign/tool:1`], { clients });
  assert.equal(client.stats.blobDownloads, downloads);
  assert.equal(second.newBlobs, 0);

  // Push it elsewhere on the same registry: the original bytes go, the digest holds.
  const pushed = await pushSnapshotImages(repo, stored, `registry://${reg}/copied`, { client });
  const copy = pushed.images[0]!;
  assert.deepEqual(copy.pushed, [{ reference: `${reg}/copied/tool:1`, digest: original.Digest, original: true }]);
  assert.equal(copy.uploaded, 0, 'every layer and the config were mounted from foreign/tool');
  assert.equal(inspect(`${reg}/copied/tool:1`).Digest, original.Digest);
  const run = await dockerCli(['run', '--rm', '--network', 'none', `${reg}/copied/tool:1`]);
  assert.equal(run.stdout, 'hello from tool\n', run.stderr);
  await dockerCli(['rmi', `${reg}/copied/tool:1`]);
});

test('errors: registry down, unknown tag and repository, rejected manifest, partial failure', { skip }, async () => {
  const fx = fixtures();
  const reg = registry();
  const { repo, stored } = shared!;

  const closed = await freePort();
  const down = pushSnapshotImages(repo, stored, `registry://127.0.0.1:${closed}/team`);
  await assert.rejects(down, (err: unknown) => {
    assert.ok(err instanceof RegistryError);
    assert.equal(err.kind, 'unreachable');
    assert.match(err.message, new RegExp(`^registry 127\\.0\\.0\\.1:${closed} is not reachable: .*ECONNREFUSED`));
    return true;
  });
  await assert.rejects(backupRegistryImages(repo, [`registry://127.0.0.1:${closed}/team/app:1`]), /is not reachable/);

  await assert.rejects(backupRegistryImages(repo, [`registry://${reg}/team/app:nope`]), (err: unknown) => {
    assert.ok(err instanceof RegistryError && err.kind === 'not-found', String(err));
    assert.match(err.message, /tag nope of 127\.0\.0\.1:\d+\/team\/app not found on registry .*MANIFEST_UNKNOWN/);
    return true;
  });
  await assert.rejects(backupRegistryImages(repo, [`registry://${reg}/no/such/repo:1`]), /not found on registry/);

  // A manifest naming a layer the registry does not have: 400 with the registry's errors[].
  const client = new RegistryClient(reg);
  const bogus = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: `sha256:${'1'.repeat(64)}`, size: 2 },
    layers: [],
  };
  await assert.rejects(client.putManifest('team/bogus', 'x', Buffer.from(JSON.stringify(bogus)), MediaType.ociManifest), (err: unknown) => {
    assert.ok(err instanceof RegistryError && err.kind === 'rejected', String(err));
    assert.match(err.message, /registry .* rejected the manifest for team\/bogus:x \(HTTP 400\): MANIFEST_BLOB_UNKNOWN/);
    return true;
  });

  // One image whose config is missing from the repository: the other is pushed, exit 3.
  const app = stored.snapshot.images.find((i) => i.names.includes(fx.app.name))!;
  const broken = { ...app, names: ['broken/thing:1'], config: `sha256:${'2'.repeat(64)}` as const };
  const mixed: StoredSnapshot = { id: stored.id, snapshot: { ...stored.snapshot, images: [app, broken] } };
  await assert.rejects(pushSnapshotImages(repo, mixed, `registry://${reg}/partial`), (err: unknown) => {
    assert.ok(err instanceof RegistryPushPartialError && err instanceof PartialFailureError, String(err));
    assert.equal(err.exitCode, 3);
    assert.equal(err.result.succeeded, 1);
    assert.deepEqual(err.result.images[0]!.pushed.map((p) => p.reference), [`${reg}/partial/app:1`]);
    assert.match(err.result.images[1]!.error ?? '', /2{64}/);
    return true;
  });
  assert.equal(inspect(`${reg}/partial/app:1`).Layers.length, app.layers.length, 'what was pushed stays');
});

test('a layer corrupted in the registry is refused on pull, and nothing stays staged', { skip }, async () => {
  const fx = fixtures();
  const reg = registry();
  const { repo, stored } = shared!;
  // Blobs of their own: the tool's top layer in zstd form is in no other test's images, so none sees the damage.
  const client = new RegistryClient(reg);
  await pushSnapshotImages(repo, stored, `registry://${reg}/damaged/tool:1`, { client, images: [fx.tool.name], compression: 'zstd' });
  const layers = rawManifest(`${reg}/damaged/tool:1`).layers;
  const victim = layers[layers.length - 1]!.digest.slice('sha256:'.length);
  const found = spawnSync('find', [process.env.TSBAK_TEST_BASE_DIR!, '-path', `*/blobs/sha256/${victim.slice(0, 2)}/${victim}/data`], { encoding: 'utf8' });
  const files = found.stdout.trim().split('\n').filter((f) => f !== '');
  assert.ok(files.length > 0, `blob ${victim} in the registry's storage`);
  for (const file of files) {
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(file, bytes);
  }
  const path = await newRepo();
  const target = await openRepo(path);
  await assert.rejects(backupRegistryImages(target, [`registry://${reg}/damaged/tool:1`]), (err: unknown) => {
    assert.match(String(err), new RegExp(`layer ${layers.length} of 127\\.0\\.0\\.1:\\d+/damaged/tool:1 from .* does not match the manifest: got sha256:[0-9a-f]{64}, expected sha256:${victim}`));
    return true;
  });
  assert.deepEqual(readdirSync(join(path, 'tmp')), [], 'no staged blob left behind');
  assert.equal((await target.snapshotIds()).length, 0);
});

// ---- a registry with token (Bearer) auth, and a token service that signs JWTs ----

interface TokenRegistry {
  hostPort: string;
  tokenRequests: { scope: string[]; user: string | undefined }[];
  /** Repositories the token service grants nothing on (as if the user had lost access). */
  denied: Set<string>;
  stop(): Promise<void>;
}

async function startTokenRegistry(user: string, password: string): Promise<TokenRegistry> {
  const dir = tmpDir('tsbak-token-registry-');
  mkdirSync(join(dir, 'storage'));
  const gen = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=tsbak-token'],
    { encoding: 'utf8' },
  );
  assert.equal(gen.status, 0, gen.stderr);
  const key = createPrivateKey(readFileSync(join(dir, 'key.pem')));
  const certDer = new X509Certificate(readFileSync(join(dir, 'cert.pem'))).raw.toString('base64');
  const b64 = (v: Buffer | string) => Buffer.from(v).toString('base64url');
  const tokenRequests: TokenRegistry['tokenRequests'] = [];
  const denied = new Set<string>();

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scope = url.searchParams.getAll('scope');
    const header = req.headers.authorization;
    let who: string | undefined;
    if (header?.startsWith('Basic ')) {
      const [u, p] = Buffer.from(header.slice(6), 'base64').toString().split(':');
      if (u !== user || p !== password) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      who = u;
    }
    tokenRequests.push({ scope, user: who });
    const now = Math.floor(Date.now() / 1000);
    // Anonymous users get no access at all; the user gets what it asks for.
    const access = who
      ? scope
          .map((s) => {
            const [type, ...rest] = s.split(':');
            const actions = rest.pop() ?? '';
            return { type, name: rest.join(':'), actions: actions.split(',') };
          })
          .filter((a) => !denied.has(a.name))
      : [];
    const claims = { iss: 'tsbak-issuer', sub: who ?? '', aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signingInput = `${b64(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [certDer] }))}.${b64(JSON.stringify(claims))}`;
    const token = `${signingInput}.${b64(sign('sha256', Buffer.from(signingInput), key))}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  const tokenPort = await freePort();
  await new Promise<void>((resolve) => server.listen(tokenPort, '127.0.0.1', resolve));

  let reg;
  try {
    reg = await startRegistry(dir, {
      token: { realm: `http://127.0.0.1:${tokenPort}/token`, service: 'tsbak-registry', issuer: 'tsbak-issuer', rootCertBundle: join(dir, 'cert.pem') },
    });
  } catch (e) {
    await new Promise((r) => server.close(r));
    throw e;
  }
  const stop = async () => {
    await reg.stop();
    await new Promise((r) => server.close(r));
  };
  return { hostPort: reg.hostPort, tokenRequests, denied, stop };
}

let tokenRegistry: TokenRegistry | undefined;
after(async () => {
  await tokenRegistry?.stop();
});

test('token (Bearer) registry: tokens per scope with Basic credentials, cached, refused ones are clear', { skip }, async () => {
  const fx = fixtures();
  const { repo, stored } = shared!;
  tokenRegistry = await startTokenRegistry('alice', 'wonder');
  const host = tokenRegistry.hostPort;

  const client = new RegistryClient(host, { credentials: { username: 'alice', password: 'wonder' } });
  const result = await pushSnapshotImages(repo, stored, `registry://${host}/tok`, { client });
  assert.equal(result.failed, 0);
  // One token per scope set: push on tok/app, push on tok/tool, and tool's mount from tok/app.
  const scopes = tokenRegistry.tokenRequests.map((r) => r.scope.join(' '));
  assert.ok(scopes.includes('repository:tok/app:pull,push'), scopes.join('\n'));
  assert.ok(scopes.includes('repository:tok/tool:pull,push repository:tok/app:pull'), scopes.join('\n'));
  assert.ok(tokenRegistry.tokenRequests.every((r) => r.user === 'alice'));
  assert.equal(client.stats.tokenRequests, 3, 'one token per scope set, shared by parallel requests and reused');
  const digest = result.images.find((i) => i.names.includes(fx.app.name))!.pushed[0]!.digest;
  const blobs = await repo.blobs();
  const pulled = await pullImage(client, { repository: 'tok/app', tag: '1' }, blobs);
  assert.equal(pulled.record.distribution?.manifest, digest);
  await Promise.all(pulled.blobs.map((b) => blobs.discard(b.staged)));

  // No read access to the mount source any more: the mount is refused (401), the blobs are uploaded instead.
  tokenRegistry.denied.add('tok/app');
  const moved = await pushSnapshotImages(repo, stored, `registry://${host}/elsewhere/app:1`, { client, images: [fx.app.name] });
  assert.equal(moved.images[0]!.pushed[0]!.digest, digest);
  assert.equal(moved.images[0]!.mounted, 0);
  assert.equal(moved.images[0]!.uploaded, stored.snapshot.images.find((i) => i.names.includes(fx.app.name))!.layers.length + 1);
  tokenRegistry.denied.clear();

  const wrong = new RegistryClient(host, { credentials: { username: 'alice', password: 'nope' } });
  await assert.rejects(pullImage(wrong, { repository: 'tok/app', tag: '1' }, await repo.blobs()), /registry 127\.0\.0\.1:\d+ refused the credentials for tok\/app at its token service/);
  const anonymous = new RegistryClient(host, { dockerConfigDir: tmpDir() });
  await assert.rejects(pullImage(anonymous, { repository: 'tok/app', tag: '1' }, await repo.blobs()), /requires credentials for tok\/app/);
});
