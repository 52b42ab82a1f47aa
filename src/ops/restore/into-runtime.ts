import type { ContainerRuntime } from '../../runtime/runtime.js';
import type { BlobSource } from '../../repo/blob-store.js';
import type { ImageRecord } from '../../image/model.js';
import type { ContainerRecord } from '../../container/model.js';
import { dependencyOrder } from '../../container/dependencies.js';
import type { RestoreSelection, VolumeSelection } from './select.js';
import type { RestoreLog } from './report.js';
import { TsbakError } from '../../errors.js';

export interface RuntimeRestoreOptions {
  overwrite: boolean;
  start: boolean;
  dryRun: boolean;
}

/** Restores one volume into the runtime; provided by the volume module. */
export type VolumeRestoreFn = (volume: VolumeSelection, options: RuntimeRestoreOptions, log: RestoreLog) => Promise<void>;

/**
 * Restore into a container runtime (a Docker engine or tsbak's own) in
 * dependency order: images, then volumes, then containers (created, and
 * started with --start when they were running). Non-destructive: an existing
 * tag, volume or container is reported and kept unless --overwrite. One item
 * failing does not stop the others.
 */
export async function restoreToRuntime(
  runtime: ContainerRuntime,
  blobs: BlobSource,
  selection: RestoreSelection,
  options: RuntimeRestoreOptions,
  log: RestoreLog,
  restoreVolume?: VolumeRestoreFn,
): Promise<void> {
  const available = await restoreImages(runtime, blobs, selection.images, options, log);
  for (const volume of selection.volumes) {
    if (!restoreVolume) {
      log.failed('volume', volume.target, 'restore', new TsbakError('this build cannot restore volumes'));
      continue;
    }
    try {
      await restoreVolume(volume, options, log);
    } catch (err) {
      log.failed('volume', volume.target, 'restore', err);
    }
  }
  await restoreContainers(runtime, selection.containers, options, log, available);
}

/** Returns the ids of the images restored, tagged or (in a dry run) planned. */
async function restoreImages(runtime: ContainerRuntime, blobs: BlobSource, images: ImageRecord[], options: RuntimeRestoreOptions, log: RestoreLog): Promise<Set<string>> {
  const engine = runtime.images;
  const toLoad: ImageRecord[] = [];
  const available = new Set<string>();
  for (const image of images) {
    const label = image.names[0] ?? image.config.slice(7, 19);
    try {
      const present = await engine.find(image.config);
      const wanted: string[] = [];
      for (const name of image.names) {
        const current = await engine.find(name);
        if (current?.id === image.config) continue;
        if (current && !options.overwrite) {
          log.add({ kind: 'image', name, action: 'tag', status: 'skipped', detail: `${name} already names another image (${current.id.slice(7, 19)}); --overwrite re-points it` });
          continue;
        }
        wanted.push(name);
      }
      if (present) {
        available.add(image.config);
        if (wanted.length === 0) {
          log.add({ kind: 'image', name: label, action: 'load', status: 'skipped', detail: `already in ${runtime.description}` });
          continue;
        }
        for (const name of wanted) {
          if (!options.dryRun) await engine.tag(image.config, name);
          log.add({ kind: 'image', name, action: 'tag', status: options.dryRun ? 'planned' : 'done', detail: `image ${image.config.slice(7, 19)} is in ${runtime.description}: tagged` });
        }
        continue;
      }
      const absent = await missingBlobs(image, blobs);
      if (absent.length > 0) {
        throw new TsbakError(`the repository lacks ${absent.length} blob(s) of this image (${absent.map((d) => d.slice(7, 19)).join(', ')}); run \`tsbak check\``);
      }
      toLoad.push({ ...image, names: wanted });
    } catch (err) {
      log.failed('image', label, 'load', err);
    }
  }
  if (toLoad.length === 0) return available;
  const labels = toLoad.map((i) => i.names[0] ?? i.config.slice(7, 19));
  if (options.dryRun) {
    labels.forEach((name) => log.add({ kind: 'image', name, action: 'load', status: 'planned' }));
    toLoad.forEach((i) => available.add(i.config));
    return available;
  }
  try {
    await engine.load(toLoad, blobs);
    labels.forEach((name) => log.add({ kind: 'image', name, action: 'load', status: 'done' }));
    toLoad.forEach((i) => available.add(i.config));
  } catch (err) {
    labels.forEach((name) => log.failed('image', name, 'load', err));
  }
  return available;
}

/** Blobs an image needs that storage does not have: checked before a load so one bad image cannot sink the others. */
async function missingBlobs(image: ImageRecord, blobs: BlobSource): Promise<string[]> {
  const digests = [image.config, ...image.layers.map((l) => l.diffID)];
  const present = await Promise.all(digests.map((d) => blobs.stored(d)));
  return digests.filter((_, i) => !present[i]);
}

async function restoreContainers(
  runtime: ContainerRuntime,
  records: ContainerRecord[],
  options: RuntimeRestoreOptions,
  log: RestoreLog,
  plannedImages: Set<string>,
): Promise<void> {
  const containers = runtime.containers;
  const created: ContainerRecord[] = [];
  for (const record of dependencyOrder(records)) {
    try {
      const existing = await containers.find(record.name);
      if (existing && !options.overwrite) {
        log.add({ kind: 'container', name: record.name, action: 'create', status: 'skipped', detail: `a container named ${record.name} exists; --overwrite replaces it` });
        continue;
      }
      const image = await imageFor(runtime, record, options.dryRun ? plannedImages : new Set());
      const action = existing ? 'replace' : 'create';
      if (options.dryRun) {
        const { note } = await containers.create(record, image, { dryRun: true });
        log.add({ kind: 'container', name: record.name, action, status: 'planned', detail: note });
        continue;
      }
      if (existing) await containers.remove(existing.id, { force: true });
      const { note } = await containers.create(record, image);
      created.push(record);
      log.add({ kind: 'container', name: record.name, action, status: 'done', detail: note });
    } catch (err) {
      log.failed('container', record.name, 'create', err);
    }
  }
  if (!options.start || options.dryRun) return;
  for (const record of created.filter((r) => r.running)) {
    try {
      await containers.start(record.name);
      log.add({ kind: 'container', name: record.name, action: 'start', status: 'done' });
    } catch (err) {
      log.failed('container', record.name, 'start', err);
    }
  }
}

/** The image to create the container from: its name when that still means its image, else the image id. */
async function imageFor(runtime: ContainerRuntime, record: ContainerRecord, planned: Set<string>): Promise<string> {
  const byName = await runtime.images.find(record.image);
  if (byName?.id === record.imageId || planned.has(record.imageId)) return record.image;
  if (await runtime.images.find(record.imageId)) return record.imageId;
  throw new TsbakError(`image ${record.image} (${record.imageId.slice(7, 19)}) is not in ${runtime.description}; restore it with the container or load it first`);
}
