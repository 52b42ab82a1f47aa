import type { Repository } from '../../repo/repository.js';
import type { StoredSnapshot } from '../../repo/snapshot.js';
import type { ImageRecord } from '../../image/model.js';
import { planRegistryPush, pushSnapshotImages, RegistryPushPartialError, type RegistryPushOptions, type RegistryPushResult } from '../registry-push.js';
import type { RestoreLog } from './report.js';
import { formatLocation, registryTarget } from '../../image/registry/reference.js';

/** Restore to a registry: push the selected images, one restore item per image. */
export function registryPusher(options: Omit<RegistryPushOptions, 'images'>) {
  return async (repo: Repository, stored: StoredSnapshot, url: string, images: ImageRecord[], log: RestoreLog, dryRun: boolean): Promise<void> => {
    const filters = images.map((i) => i.config);
    if (dryRun) {
      const host = registryTarget(url).host;
      for (const entry of planRegistryPush(stored, url, filters)) {
        const to = entry.targets.map((t) => formatLocation({ host, ...t })).join(', ');
        log.add({ kind: 'image', name: entry.image.names[0] ?? entry.image.config.slice(7, 19), action: 'push', status: 'planned', detail: to || 'no name to push under' });
      }
      return;
    }
    let result: RegistryPushResult;
    try {
      result = await pushSnapshotImages(repo, stored, url, { ...options, images: filters });
    } catch (err) {
      if (!(err instanceof RegistryPushPartialError)) {
        for (const img of images) log.failed('image', img.names[0] ?? img.config.slice(7, 19), 'push', err);
        return;
      }
      result = err.result;
    }
    for (const img of result.images) {
      const name = img.names[0] ?? img.id.slice(7, 19);
      if (img.error !== undefined) log.add({ kind: 'image', name, action: 'push', status: 'failed', detail: img.error });
      else
        log.add({
          kind: 'image',
          name,
          action: 'push',
          status: 'done',
          detail: `${img.pushed.map((p) => `${p.reference}@${p.digest.slice(0, 19)}`).join(', ')}; ${img.uploaded} blob(s) uploaded, ${img.mounted} mounted, ${img.existing} already there`,
        });
    }
  };
}
