import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Repository } from '../../repo/repository.js';
import type { Snapshot } from '../../repo/snapshot.js';
import type { ContainerRuntime } from '../../runtime/runtime.js';
import { VolumeStore } from '../../volume/store.js';
import { isEmptyDir, restoreTree } from '../../volume/restorer.js';
import type { VolumeRestoreFn } from './into-runtime.js';
import { TsbakError } from '../../errors.js';
import { formatBytes } from '../../util/format.js';

/**
 * Restores snapshot volumes into a runtime's volumes: a new volume is created with
 * the original driver, labels and options; an existing non-empty one is only
 * replaced with --overwrite; one in use by a running container never is.
 */
export function runtimeVolumeRestorer(runtime: ContainerRuntime, repo: Repository, snapshot: Snapshot): VolumeRestoreFn {
  const { volumes, containers } = runtime;
  return async (selection, options, log) => {
    const record = snapshot.volumes.find((v) => v.name === selection.name);
    if (!record) throw new TsbakError(`volume ${selection.name} is not in the snapshot`);
    const existing = await volumes.find(selection.target);
    if (existing) {
      const users = (await containers.list({ volume: selection.target })).filter((u) => u.running || u.paused);
      if (users.length > 0) {
        const names = users.map((u) => u.name);
        throw new TsbakError(`volume ${selection.target} is in use by running container ${names.join(', ')}; stop it before restoring into the volume`);
      }
      if (!isEmptyDir(existing.mountpoint) && !options.overwrite) {
        log.add({ kind: 'volume', name: selection.target, action: 'restore', status: 'skipped', detail: `volume ${selection.target} exists and is not empty; --overwrite replaces its content` });
        return;
      }
    }
    const action = selection.target === selection.name ? 'restore' : `restore from ${selection.name}`;
    if (options.dryRun) {
      log.add({ kind: 'volume', name: selection.target, action, status: 'planned', detail: `${record.stats.files} files, ${formatBytes(record.stats.bytes)}` });
      return;
    }
    const volume = existing ?? (await volumes.create(selection.target, record.driver, record.labels, record.options));
    if (existing) clearDirectory(volume.mountpoint);
    const store = await VolumeStore.forRepository(repo);
    try {
      const result = await restoreTree(record.tree, store, volume.mountpoint, { overwrite: false });
      const warn = result.warnings.length > 0 ? `; ${result.warnings.length} warning(s): ${result.warnings.map((w) => `${w.path}: ${w.message}`).join('; ')}` : '';
      log.add({ kind: 'volume', name: selection.target, action, status: 'done', detail: `${result.stats.files} files, ${formatBytes(result.stats.bytes)}${warn}` });
    } finally {
      await store.close();
    }
  };
}

/** Empty a volume's directory (not the directory itself: the runtime owns it). */
function clearDirectory(dir: string): void {
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}
