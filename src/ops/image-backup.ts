import type { Repository } from '../repo/repository.js';
import type { ImageRecord } from '../image/model.js';
import type { ContainerRuntime, RuntimeImage } from '../runtime/runtime.js';
import { commitArchiveBlobs } from './commit.js';
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

/**
 * Store a runtime's images in the repository (blobs and index entries; the
 * caller writes the snapshot). An image whose config and layers are all
 * stored already is recorded from `inspect` alone: no save. The rest come
 * from one save stream, verified layer by layer.
 */
export async function backupRuntimeImages(repo: Repository, runtime: ContainerRuntime, options: ImageBackupOptions): Promise<ImageBackupResult> {
  const selected = await selectImages(runtime, options);
  const blobs = await repo.blobs();
  const missing = selected.filter((img) => !blobs.has(img.id) || img.layers.some((l) => !blobs.has(l)));
  let stats = { newBlobs: 0, newBytes: 0 };
  if (missing.length > 0) {
    const names = missing.map(saveName);
    options.log?.(`reading ${missing.length} image(s) from ${runtime.description}: ${names.join(', ')}`);
    const what = `save stream of ${names.join(', ')} from ${runtime.description}`;
    progress.start('reading images', missing.reduce((n, img) => n + (img.size ?? 0), 0) || undefined);
    // The archive reader (tar-stream) loads only when something must be read: not for an unchanged re-backup.
    const { readImageArchive } = await import('../image/archive/reader.js');
    const result = await readImageArchive(await runtime.images.save(names), blobs, what);
    progress.stop();
    for (const img of missing) {
      if (!result.images.some((r) => r.config === img.id)) {
        throw new ArchiveError(`${what} does not contain image ${img.id} (was it removed or re-tagged during the backup?)`);
      }
    }
    stats = await commitArchiveBlobs(blobs, result);
  }
  return { records: selected.map((img) => recordOf(img, (d) => blobs.size(d))), savedImages: missing.length, ...stats };
}

async function selectImages(runtime: ContainerRuntime, options: ImageBackupOptions): Promise<RuntimeImage[]> {
  const byId = new Map<string, RuntimeImage>();
  if (options.all) for (const img of await runtime.images.list()) if (img.names.length > 0) byId.set(img.id, img);
  for (const ref of options.images) {
    const img = await runtime.images.inspect(ref);
    byId.set(img.id, img);
  }
  return [...byId.values()];
}

/** The name to ask save for: a tag keeps RepoTags in the stream; an ID works for untagged images. */
function saveName(img: RuntimeImage): string {
  return img.names[0] ?? img.id;
}

function recordOf(img: RuntimeImage, sizeOf: (digest: `sha256:${string}`) => number): ImageRecord {
  const record: ImageRecord = {
    names: img.names,
    repoDigests: img.repoDigests,
    config: img.id,
    configSize: sizeOf(img.id),
    layers: img.layers.map((diffID) => ({ diffID, size: sizeOf(diffID) })),
  };
  if (img.os) record.os = img.os;
  if (img.architecture) record.architecture = img.architecture;
  return record;
}
