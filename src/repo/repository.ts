import type { Backend } from './backend/backend.js';
import { BlobIndex } from './blob-index.js';
import { BlobStore } from './blob-store.js';
import { FORMAT_NAME, FORMAT_VERSION, keys, newRepoConfig, snapshotIdOfKey, type RepoConfig } from './format.js';
import { parseSnapshot, type Snapshot, type StoredSnapshot } from './snapshot.js';
import { sha256, digestHex } from '../util/digest.js';
import { mapLimit } from '../util/concurrency.js';
import { CorruptDataError, NotFoundError, RepositoryError, UsageError, errorMessage } from '../errors.js';

/**
 * A tsbak repository: config, blobs (+ index) and snapshots on one backend.
 * It knows nothing about Docker; transports hand it blobs through BlobSink.
 */
export class Repository {
  private blobStore: BlobStore | undefined;

  private constructor(
    readonly backend: Backend,
    readonly config: RepoConfig,
  ) {}

  get location(): string {
    return this.backend.location;
  }

  /** Create a new repository; refuses when one already exists there. */
  static async init(backend: Backend): Promise<Repository> {
    if ((await backend.exists()) && (await backend.stat(keys.config))) {
      throw new RepositoryError(`a repository already exists at ${backend.location}`);
    }
    await backend.create();
    const config = newRepoConfig();
    await backend.writeBuffer(keys.config, Buffer.from(JSON.stringify(config, null, 2) + '\n'));
    return new Repository(backend, config);
  }

  /** Open an existing repository, or create it when `create` is set and nothing is there. */
  static async open(backend: Backend, options: { create?: boolean } = {}): Promise<Repository> {
    const exists = (await backend.exists()) && (await backend.stat(keys.config)) !== undefined;
    if (!exists) {
      if (options.create) return Repository.init(backend);
      throw new RepositoryError(`no repository at ${backend.location}; create one with \`tsbak init --repo ${backend.location}\``);
    }
    const raw = await backend.readBuffer(keys.config);
    let config: RepoConfig;
    try {
      config = JSON.parse(raw.toString('utf8')) as RepoConfig;
    } catch (err) {
      throw new RepositoryError(`repository config at ${backend.location} is not valid JSON: ${errorMessage(err)}`);
    }
    if (config.format !== FORMAT_NAME) throw new RepositoryError(`${backend.location} is not a tsbak repository`);
    if (config.version > FORMAT_VERSION) {
      throw new RepositoryError(
        `repository at ${backend.location} has format version ${config.version}; this tsbak reads up to ${FORMAT_VERSION}: upgrade tsbak`,
      );
    }
    return new Repository(backend, config);
  }

  /** The blob store, with the index loaded on first use. */
  async blobs(): Promise<BlobStore> {
    if (!this.blobStore) this.blobStore = new BlobStore(this.backend, await BlobIndex.load(this.backend));
    return this.blobStore;
  }

  async saveSnapshot(snapshot: Snapshot): Promise<string> {
    const buf = Buffer.from(JSON.stringify(snapshot, null, 1) + '\n');
    const id = digestHex(sha256(buf));
    await this.backend.writeBuffer(keys.snapshot(id), buf);
    return id;
  }

  async snapshotIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const key of this.backend.list(keys.snapshotsPrefix)) {
      const id = snapshotIdOfKey(key);
      if (id) ids.push(id);
    }
    return ids;
  }

  async loadSnapshot(id: string): Promise<StoredSnapshot> {
    const buf = await this.backend.readBuffer(keys.snapshot(id));
    if (digestHex(sha256(buf)) !== id) throw new CorruptDataError(`snapshot ${id} does not match its id (corrupted on disk?)`);
    try {
      return { id, snapshot: parseSnapshot(buf.toString('utf8')) };
    } catch (err) {
      throw new CorruptDataError(`snapshot ${id} is not valid JSON: ${errorMessage(err)}`);
    }
  }

  /** All snapshots, oldest first. */
  async snapshots(): Promise<StoredSnapshot[]> {
    const all = await mapLimit(await this.snapshotIds(), 16, (id) => this.loadSnapshot(id));
    return all.sort((a, b) => a.snapshot.time.localeCompare(b.snapshot.time) || a.id.localeCompare(b.id));
  }

  /** Resolve `latest`, a full id or a unique id prefix. */
  async resolveSnapshot(ref: string): Promise<StoredSnapshot> {
    if (ref === 'latest') {
      const all = await this.snapshots();
      const last = all[all.length - 1];
      if (!last) throw new NotFoundError(`the repository at ${this.location} has no snapshots yet`);
      return last;
    }
    if (!/^[0-9a-f]{1,64}$/.test(ref)) throw new UsageError(`"${ref}" is not a snapshot id: use an id, a unique id prefix, or "latest"`);
    const matches = (await this.snapshotIds()).filter((id) => id.startsWith(ref));
    if (matches.length === 0) throw new NotFoundError(`no snapshot with id ${ref} in ${this.location}; list them with \`tsbak snapshots\``);
    if (matches.length > 1) throw new UsageError(`snapshot id prefix ${ref} is ambiguous: ${matches.map((m) => m.slice(0, 12)).join(', ')}`);
    return this.loadSnapshot(matches[0] as string);
  }
}
