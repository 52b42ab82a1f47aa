import type { Repository } from '../repo/repository.js';
import type { ImageRecord } from '../image/model.js';
import { EngineImages, type EngineImageInspect } from '../image/engine/images.js';
import type { EngineClient } from '../image/engine/client.js';
import { readImageArchive } from '../image/archive/reader.js';
import { commitArchiveBlobs } from './commit.js';
import { newSnapshot } from './snapshot-doc.js';
import { parseDigest, shortId } from '../util/digest.js';
import { ArchiveError, UsageError } from '../errors.js';

export interface ImageBackupOptions {
  all: boolean;
  images: string[];
  tags: string[];
  log?: (line: string) => void;
}

export interface ImageBackupResult {
  snapshotId: string;
  images: { names: string[]; id: string; layers: number; size: number }[];
  /** Images whose data had to be read from the engine (the others were all in the repository). */
  savedImages: number;
  newBlobs: number;
  newBytes: number;
  durationMs: number;
}

const UNTAGGED = '<none>:<none>';

/**
 * Back up engine images. An image whose config and layers are all in the
 * repository already is recorded from `inspect` alone: no `docker save`.
 * The rest come from one save stream, verified layer by layer.
 */
export async function backupEngineImages(repo: Repository, client: EngineClient, options: ImageBackupOptions): Promise<ImageBackupResult> {
  const started = Date.now();
  const engine = new EngineImages(client);
  const version = await engine.version();
  const selected = await selectImages(engine, options);
  if (selected.length === 0) throw new UsageError('nothing to back up: the engine has no tagged images (name some with --image)');

  const blobs = await repo.blobs();
  const missing = selected.filter((img) => !blobs.has(img.Id) || (img.RootFS.Layers ?? []).some((l) => !blobs.has(l)));
  let stats = { newBlobs: 0, newBytes: 0 };
  if (missing.length > 0) {
    const names = missing.map(saveName);
    options.log?.(`reading ${missing.length} image(s) from the engine: ${names.join(', ')}`);
    const what = `docker save stream of ${names.join(', ')} from ${client.host}`;
    const result = await readImageArchive(await engine.save(names), blobs, what);
    for (const img of missing) {
      if (!result.images.some((r) => r.config === img.Id)) {
        throw new ArchiveError(`${what} does not contain image ${img.Id} (was it removed or re-tagged during the backup?)`);
      }
    }
    stats = await commitArchiveBlobs(blobs, result);
  }

  const records = selected.map((img) => recordOf(img, (d) => blobs.size(d)));
  await blobs.flushIndex();
  const snapshot = newSnapshot({ kind: 'engine', host: client.host, engineVersion: version.Version }, records, options.tags);
  const snapshotId = await repo.saveSnapshot(snapshot);
  return {
    snapshotId,
    images: records.map((r) => ({
      names: r.names,
      id: r.config,
      layers: r.layers.length,
      size: r.layers.reduce((n, l) => n + l.size, 0),
    })),
    savedImages: missing.length,
    ...stats,
    durationMs: Date.now() - started,
  };
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
