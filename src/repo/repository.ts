import type { Backend } from './backend/backend.js';
import { BlobIndex } from './blob-index.js';
import { BlobStore } from './blob-store.js';
import { Codec } from './codec.js';
import { CONFIG, FORMAT_NAME, FORMAT_VERSION, layoutFor, newRepoConfig, type RepoConfig } from './format.js';
import { Objects } from './objects.js';
import { parseSnapshot, type Snapshot, type StoredSnapshot } from './snapshot.js';
import { mapLimit } from '../util/concurrency.js';
import { CorruptDataError, NotFoundError, RepositoryError, UsageError, errorMessage } from '../errors.js';

/**
 * A tsbak repository: config, blobs (+ index) and snapshots on one backend.
 * It knows nothing about Docker; transports hand it blobs through BlobSink.
 */
export class Repository {
  private blobStore: BlobStore | undefined;
  /** Every object of the repository, by handle, through its codec. */
  readonly objects: Objects;

  private constructor(
    readonly backend: Backend,
    readonly config: RepoConfig,
  ) {
    this.objects = new Objects(backend, layoutFor(config.version), new Codec(config.version));
  }

  get location(): string {
    return this.backend.location;
  }

  /** Create a new repository; refuses when one already exists there. */
  static async init(backend: Backend): Promise<Repository> {
    if ((await backend.exists()) && (await backend.stat(CONFIG.type))) {
      throw new RepositoryError(`a repository already exists at ${backend.location}`);
    }
    await backend.create();
    const config = newRepoConfig();
    const repo = new Repository(backend, config);
    await repo.objects.save(CONFIG, Buffer.from(JSON.stringify(config, null, 2) + '\n'));
    return repo;
  }

  /** Open an existing repository, or create it when `create` is set and nothing is there. */
  static async open(backend: Backend, options: { create?: boolean } = {}): Promise<Repository> {
    const exists = (await backend.exists()) && (await backend.stat(CONFIG.type)) !== undefined;
    if (!exists) {
      if (options.create) return Repository.init(backend);
      throw new RepositoryError(`no repository at ${backend.location}; create one with \`tsbak init --repo ${backend.location}\``);
    }
    // Format 1's config is plain JSON (the codec of format 1 stores it as it is).
    const raw = await backend.readBuffer(CONFIG.type);
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
    if (!this.blobStore) this.blobStore = new BlobStore(this.objects, await BlobIndex.load(this.objects));
    return this.blobStore;
  }

  async saveSnapshot(snapshot: Snapshot): Promise<string> {
    return this.objects.saveContent('snapshot', Buffer.from(JSON.stringify(snapshot, null, 1) + '\n'));
  }

  async snapshotIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const id of this.objects.list('snapshot')) if (/^[0-9a-f]{64}$/.test(id)) ids.push(id);
    return ids;
  }

  async loadSnapshot(id: string): Promise<StoredSnapshot> {
    const buf = await this.objects.loadContent({ type: 'snapshot', name: id });
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
