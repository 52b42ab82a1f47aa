import type { Repository } from '../repo/repository.js';
import type { ImageRecord } from '../image/model.js';
import { EngineImages, type EngineImageInspect } from '../image/engine/images.js';
import type { EngineClient } from '../image/engine/client.js';
import { readImageArchive } from '../image/archive/reader.js';
import { commitArchiveBlobs } from './commit.js';
import { parseDigest, shortId } from '../util/digest.js';
import { ArchiveError } from '../errors.js';
import { progress } from '../util/progress.js';

export interface ImageBackupOptions {
  all: boolean;
  /** Image names or ids; container images are passed by id. */
  images: string[];
  log?: (line: string) => void;
}

export interface ImageBackupResult {
  records: ImageRecord[];
  /** Images whose data had to be read from the engine (the others were all in the repository). */
  savedImages: number;
  newBlobs: number;
  newBytes: number;
}

const UNTAGGED = '<none>:<none>';

/**
 * Store engine images in the repository (blobs and index entries; the caller
 * writes the snapshot). An image whose config and layers are all stored
 * already is recorded from `inspect` alone: no `docker save`. The rest come
 * from one save stream, verified layer by layer.
 */
export async function backupEngineImages(repo: Repository, client: EngineClient, options: ImageBackupOptions): Promise<ImageBackupResult> {
  const engine = new EngineImages(client);
  const selected = await selectImages(engine, options);
  const blobs = await repo.blobs();
  const missing = selected.filter((img) => !blobs.has(img.Id) || (img.RootFS.Layers ?? []).some((l) => !blobs.has(l)));
  let stats = { newBlobs: 0, newBytes: 0 };
  if (missing.length > 0) {
    const names = missing.map(saveName);
    options.log?.(`reading ${missing.length} image(s) from the engine: ${names.join(', ')}`);
    const what = `docker save stream of ${names.join(', ')} from ${client.host}`;
    progress.start('reading images', missing.reduce((n, img) => n + (img.Size ?? 0), 0) || undefined);
    const result = await readImageArchive(await engine.save(names), blobs, what);
    progress.stop();
    for (const img of missing) {
      if (!result.images.some((r) => r.config === img.Id)) {
        throw new ArchiveError(`${what} does not contain image ${img.Id} (was it removed or re-tagged during the backup?)`);
      }
    }
    stats = await commitArchiveBlobs(blobs, result);
  }
  return { records: selected.map((img) => recordOf(img, (d) => blobs.size(d))), savedImages: missing.length, ...stats };
}

async function selectImages(engine: EngineImages, options: ImageBackupOptions): Promise<EngineImageInspect[]> {
  const refs = new Set<string>(options.images);
  if (options.all) {
    for (const img of await engine.list()) {
      if ((img.RepoTags ?? []).some((t) => t !== UNTAGGED)) refs.add(img.Id);
    }
  }
  const byId = new Map<string, EngineImageInspect>();
  for (const ref of refs) {
    const img = await engine.inspect(ref);
    byId.set(img.Id, img);
  }
  return [...byId.values()];
}

/** The name to ask `docker save` for: a tag keeps RepoTags in the stream; an ID works for untagged images. */
function saveName(img: EngineImageInspect): string {
  return img.RepoTags.find((t) => t !== UNTAGGED) ?? img.Id;
}

function recordOf(img: EngineImageInspect, sizeOf: (digest: `sha256:${string}`) => number): ImageRecord {
  const config = parseDigest(img.Id, `image ${shortId(img.Id)}`);
  const record: ImageRecord = {
    names: (img.RepoTags ?? []).filter((t) => t !== UNTAGGED),
    repoDigests: img.RepoDigests ?? [],
    config,
    configSize: sizeOf(config),
    layers: (img.RootFS.Layers ?? []).map((l) => {
      const diffID = parseDigest(l, `layer of image ${shortId(img.Id)}`);
      return { diffID, size: sizeOf(diffID) };
    }),
  };
  if (img.Os) record.os = img.Os;
  if (img.Architecture) record.architecture = img.Architecture;
  return record;
}
