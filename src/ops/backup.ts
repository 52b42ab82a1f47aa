import type { Repository } from '../repo/repository.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { ContainerRecord } from '../container/model.js';
import { volumeMounts } from '../container/model.js';
import { backupRuntimeImages } from './image-backup.js';
import { newSnapshot, snapshotHost } from './snapshot-doc.js';
import { TsbakError, UsageError } from '../errors.js';
import type { VolumeBackupOptions, VolumeBackupResult } from './volume-backup.js';
import type { VolumeRecord } from '../volume/record.js';
import type { Digest } from '../util/digest.js';

export interface BackupOptions {
  /** Every tagged image, every container and every volume of the engine. */
  all: boolean;
  images: string[];
  containers: string[];
  volumes: string[];
  /** Containers whose labels include every K=V given. */
  labels?: string[];
  tags: string[];
  /** The snapshot's time (`backup --time`); default now. */
  time?: Date;
  volumeOptions: Omit<VolumeBackupOptions, 'volumes' | 'parents' | 'log' | 'signal'>;
  log?: (line: string) => void;
  /** Honoured at safe points: before each phase and each volume group, never while anything is frozen. */
  signal?: AbortSignal;
}

export interface BackupResult {
  snapshotId: string;
  images: { names: string[]; id: string; layers: number; size: number }[];
  containers: { name: string; image: string; running: boolean }[];
  volumes: { name: string; files: number; bytes: number; newBytes: number; method: string; quiesce: VolumeRecord['quiesce'] }[];
  failures: { item: string; error: string }[];
  savedImages: number;
  newBlobs: number;
  newBytes: number;
  durationMs: number;
}

/**
 * One backup run: container definitions, the images they and the user name,
 * then the snapshot document, written last.
 */
export async function backup(repo: Repository, runtime: ContainerRuntime, options: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const version = await runtime.version();
  const containers = await captureContainers(runtime, options);
  options.signal?.throwIfAborted();
  const imageRefs = [...options.images, ...containers.map((c) => c.imageId)];
  const volumeNames = new Set([...options.volumes, ...containers.flatMap((c) => volumeMounts(c).map((v) => v.name))]);
  if (options.all) for (const v of await runtime.volumes.list()) volumeNames.add(v.name);
  if (!options.all && imageRefs.length === 0 && volumeNames.size === 0) {
    throw new UsageError((options.labels ?? []).length > 0 ? `nothing to back up: no container in ${runtime.description} has the label(s) ${options.labels?.join(', ')}` : 'nothing to back up: name --image, --volume, --container, or --all');
  }
  const images =
    imageRefs.length > 0 || options.all
      ? await backupRuntimeImages(repo, runtime, { all: options.all, images: imageRefs, log: options.log })
      : { records: [], savedImages: 0, newBlobs: 0, newBytes: 0 };
  options.signal?.throwIfAborted();
  // The volume machinery (chunker, compression workers, freezer) loads only when there are volumes.
  const volumes: VolumeBackupResult =
    volumeNames.size > 0
      ? await (await import('./volume-backup.js')).backupVolumes(repo, runtime, {
          ...options.volumeOptions,
          ...(options.signal ? { signal: options.signal } : {}),
          volumes: [...volumeNames].sort(),
          parents: await parentTrees(repo),
          log: options.log,
        })
      : { records: [], failures: [] };
  if (images.records.length === 0 && containers.length === 0 && volumes.records.length === 0) {
    if (volumes.failures.length > 0) throw new TsbakError(`backup failed: ${volumes.failures.map((f) => `${f.item}: ${f.error}`).join('; ')}`);
    throw new UsageError(`nothing to back up: ${runtime.description} has no tagged images, containers or volumes (name some with --image)`);
  }
  await (await repo.blobs()).flushIndex();
  options.signal?.throwIfAborted();
  const source = runtime.kind === 'docker' ? { kind: 'engine' as const, host: runtime.location, engineVersion: version } : { kind: 'runtime' as const, root: runtime.location, version };
  const snapshot = newSnapshot(source, images.records, options.tags, options.time);
  snapshot.containers = containers;
  snapshot.volumes = volumes.records;
  const snapshotId = await repo.saveSnapshot(snapshot);
  return {
    snapshotId,
    images: images.records.map((r) => ({
      names: r.names,
      id: r.config,
      layers: r.layers.length,
      size: r.layers.reduce((n, l) => n + l.size, 0),
    })),
    containers: containers.map((c) => ({ name: c.name, image: c.image, running: c.running })),
    volumes: volumes.records.map((v) => ({ name: v.name, files: v.stats.files, bytes: v.stats.bytes, newBytes: v.stats.newBytes, method: v.method, quiesce: v.quiesce })),
    failures: volumes.failures,
    savedImages: images.savedImages,
    newBlobs: images.newBlobs,
    newBytes: images.newBytes + volumes.records.reduce((n, v) => n + v.stats.newBytes, 0),
    durationMs: Date.now() - started,
  };
}

/** The newest tree of each volume backed up from this host: its unchanged files are not read again. */
async function parentTrees(repo: Repository): Promise<Map<string, Digest>> {
  const parents = new Map<string, Digest>();
  const host = snapshotHost();
  for (const { snapshot } of await repo.snapshots()) {
    if (snapshot.hostname !== host) continue;
    for (const v of snapshot.volumes) parents.set(v.name, v.tree);
  }
  return parents;
}

async function captureContainers(runtime: ContainerRuntime, options: BackupOptions): Promise<ContainerRecord[]> {
  const byId = new Map<string, ContainerRecord>();
  const labels = (options.labels ?? []).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const);
  if (options.all || labels.length > 0) {
    for (const c of await runtime.containers.list()) {
      if (options.all || labels.every(([k, v]) => c.labels[k] === v)) byId.set(c.id, c.record);
    }
  }
  for (const ref of options.containers) {
    const { record } = await runtime.containers.inspect(ref);
    byId.set(record.id, record);
  }
  return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name));
}
