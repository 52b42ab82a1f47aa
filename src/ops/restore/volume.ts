import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Repository } from '../../repo/repository.js';
import type { Snapshot } from '../../repo/snapshot.js';
import type { EngineClient } from '../../image/engine/client.js';
import { EngineVolumes } from '../../image/engine/volumes.js';
import { EngineContainers } from '../../image/engine/containers.js';
import { VolumeStore } from '../../volume/store.js';
import { isEmptyDir, restoreTree } from '../../volume/restorer.js';
import type { VolumeRestoreFn } from './docker.js';
import { TsbakError } from '../../errors.js';
import { formatBytes } from '../../util/format.js';

/**
 * Restores snapshot volumes into engine volumes: a new volume is created with
 * the original driver, labels and options; an existing non-empty one is only
 * replaced with --overwrite; one in use by a running container never is.
 */
export function engineVolumeRestorer(client: EngineClient, repo: Repository, snapshot: Snapshot): VolumeRestoreFn {
  const volumes = new EngineVolumes(client);
  const containers = new EngineContainers(client);
  return async (selection, options, log) => {
    const record = snapshot.volumes.find((v) => v.name === selection.name);
    if (!record) throw new TsbakError(`volume ${selection.name} is not in the snapshot`);
    const existing = await volumes.find(selection.target);
    if (existing) {
      const users = await containers.list({ volume: [selection.target], status: ['running', 'paused', 'restarting'] });
      if (users.length > 0) {
        const names = users.map((u) => (u.Names[0] ?? u.Id).replace(/^\//, ''));
        throw new TsbakError(`volume ${selection.target} is in use by running container ${names.join(', ')}; stop it before restoring into the volume`);
      }
      if (!isEmptyDir(existing.Mountpoint) && !options.overwrite) {
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
    if (existing) clearDirectory(volume.Mountpoint);
    const store = await VolumeStore.forRepository(repo);
    try {
      const result = await restoreTree(record.tree, store, volume.Mountpoint, { overwrite: false });
      const warn = result.warnings.length > 0 ? `; ${result.warnings.length} warning(s): ${result.warnings.map((w) => `${w.path}: ${w.message}`).join('; ')}` : '';
      log.add({ kind: 'volume', name: selection.target, action, status: 'done', detail: `${result.stats.files} files, ${formatBytes(result.stats.bytes)}${warn}` });
    } finally {
      await store.close();
    }
  };
}

/** Empty a volume's directory (not the directory itself: the engine owns it). */
function clearDirectory(dir: string): void {
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}
