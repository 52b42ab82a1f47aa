/**
 * One backup job, as the CLI and the scheduler both run it: a plain spec
 * (what to select, from which runtime, how to quiesce), an AbortSignal, and
 * one result type with the partial-failure policy decided here, not by the
 * caller. Source routing: `registry://` images are pulled from their
 * registry in a run of their own; everything else comes from a container
 * runtime (Docker or tsbak's own).
 *
 * An abort is honoured only at safe points (between images and volumes,
 * between volume groups, before the snapshot is written): never while a
 * container is frozen or stopped, so nothing is left frozen and what was
 * stored before is unreferenced garbage at worst.
 */
import type { Repository } from '../repo/repository.js';
import type { RegistryCredentials } from '../image/registry/auth.js';
import type { RuntimeKind } from '../runtime/runtime.js';
import { UsageError } from '../errors.js';
import type { BackupResult } from './backup.js';
import type { RegistryBackupResult } from './registry-pull.js';
import type { VolumeBackupOptions } from './volume-backup.js';

export interface BackupJobSpec {
  engine: RuntimeKind;
  /** Every tagged image, container and volume. */
  all: boolean;
  /** Names or ids, or registry://HOST/REPO[:TAG|@DIGEST] (a registry job: only those). */
  images: string[];
  containers: string[];
  volumes: string[];
  /** Containers whose labels include K=V (all of them, when several are given). */
  labels: string[];
  tags: string[];
  /** The snapshot's time instead of now. */
  time?: Date;
  volumeOptions: Omit<VolumeBackupOptions, 'volumes' | 'parents' | 'log' | 'signal'>;
  registry?: { insecure: boolean; credentials?: RegistryCredentials };
}

export type BackupJobResult =
  | { source: 'runtime'; outcome: 'success' | 'partial'; result: BackupResult; failures: { item: string; error: string }[] }
  | { source: 'registry'; outcome: 'success' | 'partial'; result: RegistryBackupResult; failures: { item: string; error: string }[] };

export interface JobContext {
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** Rejects specs no run could satisfy, before anything is opened. */
export function validateBackupJob(spec: BackupJobSpec): void {
  if (!spec.all && spec.images.length === 0 && spec.containers.length === 0 && spec.volumes.length === 0 && spec.labels.length === 0) {
    throw new UsageError('say what to back up: --all, --image REF, --volume NAME, --container NAME or --label K=V');
  }
  if (!(spec.volumeOptions.maxFreezeMs > 0)) throw new UsageError('--max-freeze takes a positive number of milliseconds');
  for (const l of spec.labels) if (!/^[^=]+=/.test(l)) throw new UsageError(`--label takes KEY=VALUE, not "${l}"`);
  const fromRegistry = spec.images.filter((i) => i.startsWith('registry://'));
  if (fromRegistry.length > 0 && (fromRegistry.length !== spec.images.length || spec.all || spec.containers.length > 0 || spec.volumes.length > 0 || spec.labels.length > 0)) {
    throw new UsageError('registry:// images are backed up in a run of their own: name only registry:// images');
  }
}

export async function runBackupJob(repo: Repository, spec: BackupJobSpec, context: JobContext = {}): Promise<BackupJobResult> {
  validateBackupJob(spec);
  context.signal?.throwIfAborted();
  if (spec.images.some((i) => i.startsWith('registry://'))) {
    const { backupRegistryImages, RegistryBackupPartialError } = await import('./registry-pull.js');
    try {
      const result = await backupRegistryImages(repo, spec.images, {
        tags: spec.tags,
        insecure: spec.registry?.insecure ?? false,
        ...(spec.time ? { time: spec.time } : {}),
        ...(context.log ? { log: context.log } : {}),
        ...(spec.registry?.credentials ? { credentials: spec.registry.credentials } : {}),
      });
      return { source: 'registry', outcome: 'success', result, failures: [] };
    } catch (err) {
      if (!(err instanceof RegistryBackupPartialError)) throw err;
      const failures = err.result.images.filter((i) => i.error).map((i) => ({ item: `image ${i.source}`, error: i.error as string }));
      return { source: 'registry', outcome: 'partial', result: err.result, failures };
    }
  }
  const { backup } = await import('./backup.js');
  const { openRuntime } = await import('../runtime/open.js');
  const result = await backup(repo, await openRuntime(spec.engine), {
    all: spec.all,
    images: spec.images,
    containers: spec.containers,
    volumes: spec.volumes,
    labels: spec.labels,
    tags: spec.tags,
    ...(spec.time ? { time: spec.time } : {}),
    volumeOptions: spec.volumeOptions,
    ...(context.log ? { log: context.log } : {}),
    ...(context.signal ? { signal: context.signal } : {}),
  });
  return { source: 'runtime', outcome: result.failures.length > 0 ? 'partial' : 'success', result, failures: result.failures };
}

/** The defaults of `tsbak backup`'s volume options, for jobs that set only some. */
export function defaultVolumeOptions(overrides: Partial<BackupJobSpec['volumeOptions']> = {}): BackupJobSpec['volumeOptions'] {
  return {
    quiesce: 'freeze',
    freezeTogether: false,
    maxFreezeMs: 10_000,
    freezeFallback: 'fail',
    hookTimeoutMs: 60_000,
    cgroupVersion: 'auto',
    reflink: 'auto',
    ...overrides,
  };
}
