import { access } from 'node:fs/promises';
import type { Repository } from '../../repo/repository.js';
import type { StoredSnapshot } from '../../repo/snapshot.js';
import { exportSnapshotImages } from '../image-export.js';
import { selectForRestore } from './select.js';
import { restoreToRuntime, type VolumeRestoreFn } from './into-runtime.js';
import { runtimeVolumeRestorer } from './volume.js';
import type { ContainerRuntime, RuntimeKind } from '../../runtime/runtime.js';
import { RestoreLog, type RestoreItem, type RestoreReport } from './report.js';
import { UsageError } from '../../errors.js';
import { openRuntime } from '../../runtime/open.js';

export type RestoreTarget = { kind: RuntimeKind } | { kind: 'archive'; path: string } | { kind: 'registry'; url: string };

export function parseRestoreTarget(to: string): RestoreTarget {
  if (to === 'docker' || to === 'runtime') return { kind: to };
  if (to.startsWith('archive:') && to.length > 'archive:'.length) return { kind: 'archive', path: to.slice('archive:'.length) };
  if (to.startsWith('registry://') && to.length > 'registry://'.length) return { kind: 'registry', url: to };
  throw new UsageError(`unknown restore target "${to}": use docker, runtime, registry://HOST/NAMESPACE or archive:PATH`);
}

export interface RestoreArgs {
  images: string[];
  volumes: string[];
  containers: string[];
  overwrite: boolean;
  start: boolean;
  dryRun: boolean;
}

export interface RestoreHooks {
  onItem?: (item: RestoreItem) => void;
  restoreVolume?: VolumeRestoreFn;
  /** The runtime a docker or runtime target restores into. */
  runtime?: ContainerRuntime;
  pushToRegistry?: ((repo: Repository, stored: StoredSnapshot, url: string, images: StoredSnapshot['snapshot']['images'], log: RestoreLog, dryRun: boolean) => Promise<void>) | undefined;
}

export async function restoreSnapshot(
  repo: Repository,
  stored: StoredSnapshot,
  target: RestoreTarget,
  args: RestoreArgs,
  hooks: RestoreHooks = {},
): Promise<RestoreReport> {
  const label = stored.id.slice(0, 8);
  const selection = selectForRestore(stored.snapshot, label, args);
  const log = new RestoreLog(hooks.onItem);
  const blobs = await repo.blobs();
  const report = (name: string): RestoreReport => ({ snapshotId: stored.id, target: name, dryRun: args.dryRun, items: log.items });
  switch (target.kind) {
    case 'docker':
    case 'runtime': {
      const runtime = hooks.runtime ?? (await openRuntime(target.kind));
      const restoreVolume = hooks.restoreVolume ?? runtimeVolumeRestorer(runtime, repo, stored.snapshot);
      await restoreToRuntime(runtime, blobs, selection, args, log, restoreVolume);
      return report(`${target.kind} ${runtime.location}`);
    }
    case 'archive': {
      const exists = await access(target.path).then(() => true, () => false);
      if (exists && !args.overwrite) throw new UsageError(`${target.path} exists; --overwrite replaces it`);
      const names = selection.images.map((i) => i.names[0] ?? i.config.slice(7, 19));
      if (args.dryRun) names.forEach((name) => log.add({ kind: 'image', name, action: 'export', status: 'planned' }));
      else {
        try {
          const filters = selection.images.map((i) => i.config);
          await exportSnapshotImages(repo, stored, filters, target.path);
          names.forEach((name) => log.add({ kind: 'image', name, action: 'export', status: 'done', detail: target.path }));
        } catch (err) {
          names.forEach((name) => log.failed('image', name, 'export', err));
        }
      }
      return report(`archive ${target.path}`);
    }
    case 'registry': {
      if (!hooks.pushToRegistry) throw new UsageError('--to registry:// is not part of this build yet');
      await hooks.pushToRegistry(repo, stored, target.url, selection.images, log, args.dryRun);
      return report(target.url);
    }
  }
}
