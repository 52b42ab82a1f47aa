/**
 * Images into tsbak's runtime from outside the repository: a docker save or
 * OCI archive (`runtime load`), or a registry (`runtime pull`). Every layer is
 * verified against the config's diffIDs on the way in; only the uncompressed
 * layers and the config are kept (the runtime unpacks, it never re-pushes).
 */
import type { Readable } from 'node:stream';
import { readImageArchive } from '../image/archive/reader.js';
import type { ImageRecord } from '../image/model.js';
import { pullImage } from '../image/registry/pull.js';
import { RegistryClient } from '../image/registry/client.js';
import { parseRegistryUrl, type RegistryLocation } from '../image/registry/reference.js';
import type { RegistryCredentials } from '../image/registry/auth.js';
import type { StagedBlob } from '../repo/blob-store.js';
import type { BuiltinRuntime } from '../runtime/builtin/runtime.js';

export interface RuntimeLoadResult {
  images: { names: string[]; id: string; layers: number; size: number }[];
  durationMs: number;
}

async function keep(runtime: BuiltinRuntime, images: ImageRecord[], blobs: { staged: StagedBlob; kind: string }[]): Promise<void> {
  const wanted = new Set(images.flatMap((i) => [i.config, ...i.layers.map((l) => l.diffID)]));
  let next = 0;
  try {
    for (; next < blobs.length; next++) {
      const { staged } = blobs[next]!;
      if (wanted.has(staged.digest)) await runtime.store.commit(staged);
      else await runtime.store.discard(staged);
    }
  } finally {
    await Promise.all(blobs.slice(next).map(({ staged }) => runtime.store.discard(staged)));
  }
  await runtime.root.locked(async () => {
    for (const image of images) await runtime.store.addImage(image);
  });
}

function summary(images: ImageRecord[], started: number): RuntimeLoadResult {
  return {
    images: images.map((i) => ({ names: i.names, id: i.config, layers: i.layers.length, size: i.layers.reduce((n, l) => n + l.size, 0) })),
    durationMs: Date.now() - started,
  };
}

export async function loadArchiveIntoRuntime(runtime: BuiltinRuntime, source: Readable, what: string): Promise<RuntimeLoadResult> {
  const started = Date.now();
  const result = await readImageArchive(source, runtime.store, what);
  await keep(runtime, result.images, result.blobs);
  return summary(result.images, started);
}

export interface RuntimePullOptions {
  insecure?: boolean;
  credentials?: RegistryCredentials;
  log?: (line: string) => void;
}

export async function pullIntoRuntime(runtime: BuiltinRuntime, url: string, options: RuntimePullOptions = {}): Promise<RuntimeLoadResult> {
  const started = Date.now();
  const loc: RegistryLocation = parseRegistryUrl(url);
  const client = new RegistryClient(loc.host, { ...(options.insecure ? { insecure: true } : {}), ...(options.credentials ? { credentials: options.credentials } : {}) });
  const ref = { repository: loc.repository, ...(loc.tag !== undefined ? { tag: loc.tag } : {}), ...(loc.digest !== undefined ? { digest: loc.digest } : {}) };
  const pulled = await pullImage(client, ref, runtime.store, options.log ? { log: options.log } : {});
  await keep(runtime, [pulled.record], pulled.blobs);
  return summary([pulled.record], started);
}
