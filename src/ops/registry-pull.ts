import type { Repository } from '../repo/repository.js';
import type { ImageRecord } from '../image/model.js';
import { RegistryClient, type RegistryCredentials } from '../image/registry/client.js';
import { pullImage } from '../image/registry/pull.js';
import { RegistryError } from '../image/registry/errors.js';
import { formatLocation, registrySource, type RegistryLocation } from '../image/registry/reference.js';
import { newSnapshot } from './snapshot-doc.js';
import { PartialFailureError, TsbakError, UsageError, errorMessage } from '../errors.js';

export interface RegistryBackupOptions {
  tags?: string[];
  /** The snapshot's time (`backup --time`); default now. */
  time?: Date;
  credentials?: RegistryCredentials;
  insecure?: boolean;
  /** Clients to reuse, by host (tests read their stats). */
  clients?: Map<string, RegistryClient>;
  log?: (line: string) => void;
}

export interface RegistryBackupResult {
  snapshotId: string;
  images: { names: string[]; id: string; source: string; manifest: string; layers: number; size: number; error?: string }[];
  newBlobs: number;
  newBytes: number;
  downloadedBytes: number;
  durationMs: number;
}

/** Some images were backed up (and are in the snapshot) and some not: exit 3. */
export class RegistryBackupPartialError extends PartialFailureError {
  constructor(readonly result: RegistryBackupResult) {
    const failures = result.images.filter((i) => i.error !== undefined).map((i) => ({ item: i.source, error: i.error as string }));
    super(
      `snapshot ${result.snapshotId.slice(0, 8)} holds ${result.images.length - failures.length} of ${result.images.length} images; failed: ${failures
        .map((f) => `${f.item} (${f.error})`)
        .join('; ')}`,
      failures,
    );
  }
}

/**
 * Back up images from registries (`tsbak backup --image registry://HOST/REPO[:TAG|@DIGEST]`)
 * into a new snapshot whose source is `{kind: 'registry', host}` (hosts joined
 * by commas when there are several). Each image's blobs are committed as soon
 * as it is verified; the snapshot is written last. When some images fail the
 * others still make a snapshot and a RegistryBackupPartialError (exit 3)
 * carries it; when all fail the first error is thrown.
 */
export async function backupRegistryImages(
  repo: Repository,
  refs: (string | RegistryLocation)[],
  options: RegistryBackupOptions = {},
): Promise<RegistryBackupResult> {
  const started = Date.now();
  if (refs.length === 0) throw new UsageError('nothing to back up: name images as registry://HOST/REPOSITORY[:TAG]');
  const locations = refs.map((r) => (typeof r === 'string' ? registrySource(r) : r));
  const clients = options.clients ?? new Map<string, RegistryClient>();
  const clientFor = (host: string) => {
    let c = clients.get(host);
    if (!c) {
      c = new RegistryClient(host, {
        ...(options.insecure ? { insecure: true } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      });
      clients.set(host, c);
    }
    return c;
  };

  const blobs = await repo.blobs();
  const records: ImageRecord[] = [];
  const images: RegistryBackupResult['images'] = [];
  let newBlobs = 0;
  let newBytes = 0;
  let downloadedBytes = 0;
  let firstError: unknown;
  for (const loc of locations) {
    const source = formatLocation(loc);
    try {
      options.log?.(`pulling ${source}`);
      const ref = { repository: loc.repository, ...(loc.tag !== undefined ? { tag: loc.tag } : {}), ...(loc.digest !== undefined ? { digest: loc.digest } : {}) };
      const pulled = await pullImage(clientFor(loc.host), ref, blobs, options.log ? { log: options.log } : {});
      for (const { staged, kind } of pulled.blobs) {
        const fresh = !blobs.has(staged.digest);
        await blobs.commit(staged, kind);
        if (fresh) {
          newBlobs++;
          newBytes += staged.storedSize;
        }
      }
      downloadedBytes += pulled.downloadedBytes;
      const r = pulled.record;
      records.push(r);
      images.push({
        names: r.names,
        id: r.config,
        source,
        manifest: r.distribution?.manifest ?? '',
        layers: r.layers.length,
        size: r.layers.reduce((n, l) => n + l.size, 0),
      });
    } catch (err) {
      firstError ??= err;
      images.push({ names: [], id: '', source, manifest: '', layers: 0, size: 0, error: errorMessage(err) });
      options.log?.(`failed: ${source}: ${errorMessage(err)}`);
    }
  }
  if (records.length === 0) {
    await blobs.flushIndex();
    if (locations.length === 1 || (firstError instanceof RegistryError && (firstError.kind === 'auth' || firstError.kind === 'unreachable') && new Set(locations.map((l) => l.host)).size === 1)) {
      throw firstError;
    }
    throw new TsbakError(`no image could be backed up: ${images.map((i) => `${i.source}: ${i.error}`).join('; ')}`);
  }
  await blobs.flushIndex();
  const hosts = [...new Set(locations.map((l) => l.host))].join(',');
  const snapshotId = await repo.saveSnapshot(newSnapshot({ kind: 'registry', host: hosts }, records, options.tags ?? [], options.time));
  const result: RegistryBackupResult = { snapshotId, images, newBlobs, newBytes, downloadedBytes, durationMs: Date.now() - started };
  if (records.length < locations.length) throw new RegistryBackupPartialError(result);
  return result;
}
