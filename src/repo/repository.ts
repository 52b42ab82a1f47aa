import type { Backend } from './backend/backend.js';
import { BlobIndex } from './blob-index.js';
import { BlobStore } from './blob-store.js';
import { Codec, NULL_SEALER, type Sealer } from './codec.js';
import { newMasterKey, type MasterKey } from './crypto.js';
import { CONFIG, FORMAT_NAME, FORMAT_VERSION, layoutFor, newRepoConfig, type RepoConfig } from './format.js';
import { addKey, listKeyNames, openMasterKey } from './keys.js';
import { Objects } from './objects.js';
import { parseSnapshot, type Snapshot, type StoredSnapshot } from './snapshot.js';
import { mapLimit } from '../util/concurrency.js';
import { CorruptDataError, NotFoundError, RepositoryError, UsageError, errorMessage } from '../errors.js';

/**
 * A tsbak repository: config, blobs (+ index) and snapshots on one backend.
 * It knows nothing about Docker; transports hand it blobs through BlobSink.
 */
/** How to open or create an encrypted repository. */
export interface AccessOptions {
  /** The password, asked for only when one is needed (an encrypted repository, or init without insecureNoPassword). */
  password?: () => Promise<string>;
  /** Create an unencrypted format-2 repository (restic's --insecure-no-password). */
  insecureNoPassword?: boolean;
}

const ZSTD_MAGIC = 0xfd2fb528;

export class Repository {
  private blobStore: BlobStore | undefined;

  private constructor(
    readonly backend: Backend,
    readonly config: RepoConfig,
    /** Every object of the repository, by handle, through its codec. */
    readonly objects: Objects,
    private readonly master?: MasterKey,
    /** The key file that opened it (encrypted repositories). */
    readonly keyName?: string,
  ) {}

  get location(): string {
    return this.backend.location;
  }

  get encrypted(): boolean {
    return this.master !== undefined;
  }

  /** Create a new repository (format 2, encrypted unless insecureNoPassword); refuses when one already exists there. */
  static async init(backend: Backend, options: AccessOptions = {}): Promise<Repository> {
    if ((await backend.exists()) && (await backend.stat(CONFIG.type))) {
      throw new RepositoryError(`a repository already exists at ${backend.location}`);
    }
    let master: MasterKey | undefined;
    let password: string | undefined;
    if (!options.insecureNoPassword) {
      if (!options.password) throw new UsageError(`a new repository needs a password (TSBAK_PASSWORD, TSBAK_PASSWORD_FILE or --password-file), or --insecure-no-password`);
      password = await options.password();
      master = newMasterKey();
    }
    await backend.create();
    const config = newRepoConfig(FORMAT_VERSION, master !== undefined);
    const { AeadSealer } = await import('./crypto.js');
    const objects = new Objects(backend, layoutFor(config.version), new Codec(config.version, master ? new AeadSealer(master) : NULL_SEALER));
    let keyName: string | undefined;
    if (master && password !== undefined) keyName = await addKey(objects, master, password);
    await objects.save(CONFIG, Buffer.from(JSON.stringify(config, null, 2) + '\n'));
    return new Repository(backend, config, objects, master, keyName);
  }

  /** Open an existing repository, or create it when `create` is set and nothing is there. */
  static async open(backend: Backend, options: { create?: boolean } & AccessOptions = {}): Promise<Repository> {
    const exists = (await backend.exists()) && (await backend.stat(CONFIG.type)) !== undefined;
    if (!exists) {
      if (options.create) return Repository.init(backend, options);
      throw new RepositoryError(`no repository at ${backend.location}; create one with \`tsbak init --repo ${backend.location}\``);
    }
    const raw = await backend.readBuffer(CONFIG.type);
    let text: Buffer;
    let master: MasterKey | undefined;
    let keyName: string | undefined;
    let sealer: Sealer = NULL_SEALER;
    if (raw[0] === 0x7b) {
      // Format 1: the config is plain JSON.
      text = raw;
    } else {
      const v2 = new Codec(FORMAT_VERSION);
      if (raw.length >= 4 && raw.readUInt32LE(0) === ZSTD_MAGIC) {
        text = v2.decode(CONFIG, raw);
      } else {
        // Encrypted: a key file opens the master key, which opens the config.
        if (!options.password) throw new UsageError(`the repository at ${backend.location} is encrypted: give its password (TSBAK_PASSWORD, TSBAK_PASSWORD_FILE or --password-file)`);
        const probe = new Objects(backend, layoutFor(FORMAT_VERSION), v2);
        const opened = await openMasterKey(probe, await options.password());
        master = opened.master;
        keyName = opened.keyName;
        const { AeadSealer } = await import('./crypto.js');
        sealer = new AeadSealer(master);
        text = new Codec(FORMAT_VERSION, sealer).decode(CONFIG, raw);
      }
    }
    let config: RepoConfig;
    try {
      config = JSON.parse(text.toString('utf8')) as RepoConfig;
    } catch (err) {
      throw new RepositoryError(`repository config at ${backend.location} is not valid JSON: ${errorMessage(err)}`);
    }
    if (config.format !== FORMAT_NAME) throw new RepositoryError(`${backend.location} is not a tsbak repository`);
    if (config.version > FORMAT_VERSION) {
      throw new RepositoryError(
        `repository at ${backend.location} has format version ${config.version}; this tsbak reads up to ${FORMAT_VERSION}: upgrade tsbak`,
      );
    }
    if ((config.version >= 2) !== (raw[0] !== 0x7b)) throw new RepositoryError(`repository config at ${backend.location} is not of the format its encoding says (damaged?)`);
    const objects = new Objects(backend, layoutFor(config.version), new Codec(config.version, sealer));
    return new Repository(backend, config, objects, master, keyName);
  }

  /** Add a key file for another password (encrypted repositories). */
  async addKey(password: string): Promise<string> {
    if (!this.master) throw new UsageError(`the repository at ${this.location} is not encrypted: it has no keys`);
    return addKey(this.objects, this.master, password);
  }

  /** Remove a key file (not the last one, nor the one in use). */
  async removeKey(name: string, options: { allowCurrent?: boolean } = {}): Promise<string> {
    if (!this.master) throw new UsageError(`the repository at ${this.location} is not encrypted: it has no keys`);
    const names = await listKeyNames(this.objects);
    const matches = names.filter((n) => n.startsWith(name));
    if (matches.length === 0) throw new NotFoundError(`no key ${name} in ${this.location}; list them with \`tsbak key list\``);
    if (matches.length > 1) throw new UsageError(`key id prefix ${name} is ambiguous: ${matches.map((m) => m.slice(0, 12)).join(', ')}`);
    const target = matches[0] as string;
    if (target === this.keyName && !options.allowCurrent) throw new UsageError(`key ${target.slice(0, 12)} is the one in use: open the repository with another password to remove it (or use \`tsbak key passwd\`)`);
    if (names.length <= 1) throw new UsageError(`key ${target.slice(0, 12)} is the last one: removing it would lose the repository`);
    await this.objects.remove({ type: 'key', name: target });
    return target;
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
