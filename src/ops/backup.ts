import type { Repository } from '../repo/repository.js';
import type { EngineClient } from '../image/engine/client.js';
import { EngineImages } from '../image/engine/images.js';
import { EngineContainers } from '../image/engine/containers.js';
import { captureContainer } from '../container/capture.js';
import type { ContainerRecord } from '../container/model.js';
import { backupEngineImages } from './image-backup.js';
import { newSnapshot } from './snapshot-doc.js';
import { UsageError } from '../errors.js';

export interface BackupOptions {
  /** Every tagged image and every container of the engine. */
  all: boolean;
  images: string[];
  containers: string[];
  tags: string[];
  log?: (line: string) => void;
}

export interface BackupResult {
  snapshotId: string;
  images: { names: string[]; id: string; layers: number; size: number }[];
  containers: { name: string; image: string; running: boolean }[];
  savedImages: number;
  newBlobs: number;
  newBytes: number;
  durationMs: number;
}

/**
 * One backup run: container definitions, the images they and the user name,
 * then the snapshot document, written last.
 */
export async function backup(repo: Repository, client: EngineClient, options: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const version = await new EngineImages(client).version();
  const containers = await captureContainers(new EngineContainers(client), options);
  const imageRefs = [...options.images, ...containers.map((c) => c.imageId)];
  if (!options.all && imageRefs.length === 0) throw new UsageError('nothing to back up: name --image, --container, or --all');
  const images = await backupEngineImages(repo, client, { all: options.all, images: imageRefs, log: options.log });
  if (images.records.length === 0 && containers.length === 0) {
    throw new UsageError('nothing to back up: the engine has no tagged images or containers (name some with --image)');
  }
  await (await repo.blobs()).flushIndex();
  const snapshot = newSnapshot({ kind: 'engine', host: client.host, engineVersion: version.Version }, images.records, options.tags);
  snapshot.containers = containers;
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
    savedImages: images.savedImages,
    newBlobs: images.newBlobs,
    newBytes: images.newBytes,
    durationMs: Date.now() - started,
  };
}

async function captureContainers(engine: EngineContainers, options: BackupOptions): Promise<ContainerRecord[]> {
  const refs = new Set(options.containers);
  if (options.all) for (const c of await engine.list()) refs.add(c.Id);
  const byId = new Map<string, ContainerRecord>();
  for (const ref of refs) {
    const record = captureContainer(await engine.inspect(ref));
    byId.set(record.id, record);
  }
  return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name));
}
