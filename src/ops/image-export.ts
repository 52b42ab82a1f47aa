import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { Repository } from '../repo/repository.js';
import type { StoredSnapshot } from '../repo/snapshot.js';
import type { ImageRecord } from '../image/model.js';
import { writeImageArchive } from '../image/archive/writer.js';
import { selectImages } from './image-select.js';
import { progress } from '../util/progress.js';

export interface ExportResult {
  snapshotId: string;
  output: string;
  images: { names: string[]; id: string }[];
  bytes: number;
  durationMs: number;
}

/** Export images of a snapshot as one docker save + OCI archive, to a file (atomically) or a stream. */
export async function exportSnapshotImages(
  repo: Repository,
  stored: StoredSnapshot,
  filters: string[],
  output: string | Writable,
): Promise<ExportResult> {
  const started = Date.now();
  const images = selectImages(stored.snapshot.images, filters, stored.id.slice(0, 8));
  const blobs = await repo.blobs();
  let bytes = 0;
  progress.start('exporting', images.reduce((n, i) => n + i.layers.reduce((m, l) => m + l.size, 0), 0));
  try {
    if (typeof output === 'string') {
      await writeFileAtomically(output, async (out) => {
        bytes = await writeImageArchive(images, blobs, out);
      });
    } else {
      bytes = await writeImageArchive(images, blobs, output);
    }
  } finally {
    progress.stop();
  }
  return {
    snapshotId: stored.id,
    output: typeof output === 'string' ? output : '-',
    images: images.map((i: ImageRecord) => ({ names: i.names, id: i.config })),
    bytes,
    durationMs: Date.now() - started,
  };
}

/** Write through a temp file next to `path` and rename it into place only on success. */
export async function writeFileAtomically(path: string, write: (out: Writable) => Promise<void>): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  const out = createWriteStream(tmp, { mode: 0o644 });
  try {
    await write(out);
    await rename(tmp, path);
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}
