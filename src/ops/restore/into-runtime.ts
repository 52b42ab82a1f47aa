import type { EngineClient } from '../../image/engine/client.js';
import { EngineImages } from '../../image/engine/images.js';
import { EngineContainers } from '../../image/engine/containers.js';
import { loadImagesIntoEngine } from '../../image/engine/load.js';
import type { BlobSource } from '../../repo/blob-store.js';
import type { ImageRecord } from '../../image/model.js';
import type { ContainerRecord } from '../../container/model.js';
import { dependencyOrder } from '../../container/capture.js';
import type { RestoreSelection, VolumeSelection } from './select.js';
import type { RestoreLog } from './report.js';
import { TsbakError } from '../../errors.js';

export interface DockerRestoreOptions {
  overwrite: boolean;
  start: boolean;
  dryRun: boolean;
}

/** Restores one volume into the engine; provided by the volume module. */
export type VolumeRestoreFn = (volume: VolumeSelection, options: DockerRestoreOptions, log: RestoreLog) => Promise<void>;

const BUILTIN_NETWORK_MODES = new Set(['default', 'bridge', 'host', 'none']);

/**
 * Restore into a Docker engine in dependency order: images, then volumes, then
 * containers (created, and started with --start when they were running).
 * Non-destructive: an existing tag, volume or container is reported and kept
 * unless --overwrite. One item failing does not stop the others.
 */
export async function restoreToDocker(
  client: EngineClient,
  blobs: BlobSource,
  selection: RestoreSelection,
  options: DockerRestoreOptions,
  log: RestoreLog,
  restoreVolume?: VolumeRestoreFn,
): Promise<void> {
  const available = await restoreImages(client, blobs, selection.images, options, log);
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
  await restoreContainers(client, selection.containers, options, log, available);
}

/** Returns the ids of the images restored, tagged or (in a dry run) planned. */
async function restoreImages(client: EngineClient, blobs: BlobSource, images: ImageRecord[], options: DockerRestoreOptions, log: RestoreLog): Promise<Set<string>> {
  const engine = new EngineImages(client);
  const toLoad: ImageRecord[] = [];
  const available = new Set<string>();
  for (const image of images) {
    const label = image.names[0] ?? image.config.slice(7, 19);
    try {
      const present = await engine.find(image.config);
      const wanted: string[] = [];
      for (const name of image.names) {
        const current = await engine.find(name);
        if (current?.Id === image.config) continue;
        if (current && !options.overwrite) {
          log.add({ kind: 'image', name, action: 'tag', status: 'skipped', detail: `${name} already names another image (${current.Id.slice(7, 19)}); --overwrite re-points it` });
          continue;
        }
        wanted.push(name);
      }
      if (present) {
        available.add(image.config);
        if (wanted.length === 0) {
          log.add({ kind: 'image', name: label, action: 'load', status: 'skipped', detail: 'already in the engine' });
          continue;
        }
        for (const name of wanted) {
          if (!options.dryRun) await engine.tag(image.config, name);
          log.add({ kind: 'image', name, action: 'tag', status: options.dryRun ? 'planned' : 'done', detail: `image ${image.config.slice(7, 19)} is in the engine: tagged` });
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
    await loadImagesIntoEngine(client, toLoad, blobs);
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
  client: EngineClient,
  records: ContainerRecord[],
  options: DockerRestoreOptions,
  log: RestoreLog,
  plannedImages: Set<string>,
): Promise<void> {
  const containers = new EngineContainers(client);
  const images = new EngineImages(client);
  const created: ContainerRecord[] = [];
  for (const record of dependencyOrder(records)) {
    try {
      const existing = await containers.exists(record.name);
      if (existing && !options.overwrite) {
        log.add({ kind: 'container', name: record.name, action: 'create', status: 'skipped', detail: `a container named ${record.name} exists; --overwrite replaces it` });
        continue;
      }
      const body = await createBody(record, images, containers, options.dryRun ? plannedImages : new Set());
      if (options.dryRun) {
        log.add({ kind: 'container', name: record.name, action: existing ? 'replace' : 'create', status: 'planned', detail: body.note });
        continue;
      }
      if (existing) await containers.remove(existing.Id, { force: true });
      await containers.create(record.name, body.body);
      for (const [network, endpoint] of body.connect) await containers.connect(record.name, network, endpoint);
      created.push(record);
      log.add({ kind: 'container', name: record.name, action: existing ? 'replace' : 'create', status: 'done', detail: body.note });
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

/** The POST /containers/create body, attached to the networks that exist here. */
async function createBody(
  record: ContainerRecord,
  images: EngineImages,
  containers: EngineContainers,
  planned: Set<string>,
): Promise<{ body: Record<string, unknown>; connect: [string, unknown][]; note: string | undefined }> {
  const byName = await images.find(record.image);
  const image =
    byName?.Id === record.imageId || planned.has(record.imageId) ? record.image : (await images.find(record.imageId)) ? record.imageId : undefined;
  if (!image) {
    throw new TsbakError(`image ${record.image} (${record.imageId.slice(7, 19)}) is not in the engine; restore it with the container or load it first`);
  }
  const mode = record.hostConfig.NetworkMode;
  if (typeof mode === 'string' && !BUILTIN_NETWORK_MODES.has(mode) && !mode.startsWith('container:') && !(await containers.networkExists(mode))) {
    throw new TsbakError(`network ${mode} does not exist on this host; create it (docker network create ${mode}) and restore the container again`);
  }
  // Engines before API 1.44 take one endpoint at create; the others are connected after.
  const endpoints: Record<string, unknown> = {};
  const connect: [string, unknown][] = [];
  const missing: string[] = [];
  for (const [name, endpoint] of Object.entries(record.networks)) {
    if (name === mode) endpoints[name] = endpoint;
    else if (await containers.networkExists(name)) connect.push([name, endpoint]);
    else missing.push(name);
  }
  const body = {
    ...record.config,
    Image: image,
    HostConfig: record.hostConfig,
    NetworkingConfig: { EndpointsConfig: endpoints },
  };
  return { body, connect, note: missing.length > 0 ? `not attached to missing network(s): ${missing.join(', ')}` : undefined };
}
