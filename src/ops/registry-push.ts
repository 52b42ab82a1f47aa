import { sessionCompressedDigests } from '../image/registry/compress.js';
import type { Repository } from '../repo/repository.js';
import type { StoredSnapshot } from '../repo/snapshot.js';
import type { ImageRecord } from '../image/model.js';
import { RegistryClient, type RegistryCredentials } from '../image/registry/client.js';
import { pushImage, type LayerCompression, type ManifestFormat } from '../image/registry/push.js';
import { formatLocation, registryTarget, targetFor, type RegistryLocation } from '../image/registry/reference.js';
import { RegistryError } from '../image/registry/errors.js';
import { selectImages } from './image-select.js';
import { PartialFailureError, TsbakError, UsageError, errorMessage } from '../errors.js';
import type { Digest } from '../util/digest.js';

export interface RegistryPushOptions {
  /** Images of the snapshot to push, by name or id prefix (default: all). */
  images?: string[];
  compression?: LayerCompression;
  format?: ManifestFormat;
  /** `--registry-user` + `--registry-password-stdin`; else ~/.docker/config.json. */
  credentials?: RegistryCredentials;
  /** `--insecure-registry`: plain HTTP to a host that is not loopback. */
  insecure?: boolean;
  /** A client to reuse (its session knows which blobs it has seen where; tests read its stats). */
  client?: RegistryClient;
  tmpDir?: string;
  log?: (line: string) => void;
}

export interface RegistryPushImageResult {
  names: string[];
  id: string;
  /** One entry per name pushed: `host/repo:tag` and the manifest digest it points to. */
  pushed: { reference: string; digest: Digest; original: boolean }[];
  uploaded: number;
  mounted: number;
  existing: number;
  uploadedBytes: number;
  /** Set when this image failed; what it pushed before the failure stays in the registry. */
  error?: string;
}

export interface RegistryPushResult {
  snapshotId: string;
  registry: string;
  images: RegistryPushImageResult[];
  succeeded: number;
  failed: number;
  uploadedBytes: number;
  durationMs: number;
}

/** Some images were pushed and some not: exit 3, with the per-image results. */
export class RegistryPushPartialError extends PartialFailureError {
  constructor(readonly result: RegistryPushResult) {
    const failures = result.images.filter((i) => i.error !== undefined).map((i) => ({ item: i.names[0] ?? i.id, error: i.error as string }));
    super(
      `pushed ${result.succeeded} of ${result.images.length} images to ${result.registry}; failed: ${failures.map((f) => `${f.item} (${f.error})`).join('; ')}`,
      failures,
    );
  }
}

/**
 * Push images of a snapshot to a registry (`tsbak restore SNAP --to registry://HOST/NS`).
 * Images go one after another, each to the names the target rule gives
 * (see image/registry/reference.ts). A failed image does not stop the others;
 * when some succeed and some fail the result comes in a RegistryPushPartialError
 * (exit 3); when all fail, the error itself (one image) or a summary is thrown.
 */
export async function pushSnapshotImages(
  repo: Repository,
  stored: StoredSnapshot,
  target: string | RegistryLocation,
  options: RegistryPushOptions = {},
): Promise<RegistryPushResult> {
  const started = Date.now();
  const location = typeof target === 'string' ? registryTarget(target) : target;
  const plan = planRegistryPush(stored, location, options.images ?? []);
  const client =
    options.client ??
    new RegistryClient(location.host, {
      ...(options.insecure ? { insecure: true } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
  // An unreachable registry fails everything alike: say it once.
  await client.ping();
  const blobs = await repo.blobs();

  const results: RegistryPushImageResult[] = [];
  const errors: unknown[] = [];
  for (const { image: img, targets } of plan) {
    const result: RegistryPushImageResult = { names: img.names, id: img.config, pushed: [], uploaded: 0, mounted: 0, existing: 0, uploadedBytes: 0 };
    results.push(result);
    try {
      if (targets.length === 0) {
        throw new UsageError(`image ${img.config.slice(7, 19)} has no name to push under; push it alone to registry://${location.host}/REPOSITORY:TAG`);
      }
      for (const t of targets) {
        const reference = formatLocation({ host: location.host, ...t });
        options.log?.(`pushing ${img.names[0] ?? img.config} to ${reference}`);
        const pushed = await pushImage(client, img, blobs, t, {
          ...(options.compression ? { compression: options.compression } : {}),
          ...(options.format ? { format: options.format } : {}),
          ...(options.tmpDir ? { tmpDir: options.tmpDir } : {}),
          ...(options.log ? { log: options.log } : {}),
        });
        result.pushed.push({ reference, digest: pushed.digest, original: pushed.original });
        result.uploaded += pushed.blobs.uploaded;
        result.mounted += pushed.blobs.mounted;
        result.existing += pushed.blobs.existing;
        result.uploadedBytes += pushed.blobs.uploadedBytes;
      }
    } catch (err) {
      result.error = errorMessage(err);
      errors.push(err);
      options.log?.(`failed: ${img.names[0] ?? img.config}: ${result.error}`);
      if (plan.length === 1) throw err;
    }
  }

  await sessionCompressedDigests.save();
  const failed = results.filter((r) => r.error !== undefined).length;
  const result: RegistryPushResult = {
    snapshotId: stored.id,
    registry: location.host,
    images: results,
    succeeded: results.length - failed,
    failed,
    uploadedBytes: results.reduce((n, r) => n + r.uploadedBytes, 0),
    durationMs: Date.now() - started,
  };
  if (failed === results.length) {
    // Refused credentials or a registry gone mid-way concern every image alike: say it once.
    const first = errors[0];
    if (first instanceof RegistryError && (first.kind === 'auth' || first.kind === 'unreachable')) throw first;
    throw new TsbakError(`no image could be pushed to ${location.host}: ${results.map((r) => `${r.names[0] ?? r.id}: ${r.error}`).join('; ')}`);
  }
  if (failed > 0) throw new RegistryPushPartialError(result);
  return result;
}

/** What a push would do, without contacting the registry (for --dry-run and up-front checks). */
export interface RegistryPushPlanEntry {
  image: ImageRecord;
  /** repository:tag pairs it goes to; empty for an image without a name (it fails). */
  targets: { repository: string; tag: string }[];
}

/**
 * The images a push selects and where each goes under the target (see
 * image/registry/reference.ts for the rule). Throws a UsageError for a tagged
 * target with several images, or a filter that matches nothing.
 */
export function planRegistryPush(stored: StoredSnapshot, target: string | RegistryLocation, filters: string[] = []): RegistryPushPlanEntry[] {
  const location = typeof target === 'string' ? registryTarget(target) : target;
  const images = selectImages(stored.snapshot.images, filters, stored.id.slice(0, 8));
  if (images.length === 0) throw new UsageError(`snapshot ${stored.id.slice(0, 8)} has no images to push`);
  if (location.tag !== undefined && images.length > 1) {
    throw new UsageError(
      `${formatLocation(location)} names one tag but ${images.length} images are selected: pick one with --image, or push to a namespace (registry://${location.host}/NAMESPACE)`,
    );
  }
  return images.map((image) => ({ image, targets: targetsOf(image, location) }));
}

/** The distinct repository:tag pairs an image goes to under the target. */
function targetsOf(img: ImageRecord, location: RegistryLocation): { repository: string; tag: string }[] {
  if (location.tag !== undefined) return [{ repository: location.repository, tag: location.tag }];
  const seen = new Map<string, { repository: string; tag: string }>();
  for (const name of img.names) {
    const t = targetFor(location, name);
    if (t) seen.set(`${t.repository}:${t.tag}`, t);
  }
  return [...seen.values()];
}
