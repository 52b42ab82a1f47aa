/**
 * The built-in runtime's state directory and its layout:
 *
 *   blobs/sha256/<hex>           image configs and uncompressed layers, by digest (shared by images)
 *   blobs/tmp/                   blobs being written
 *   images/<hex>.json            an image: names, layers (diffIDs), platform
 *   volumes/<name>/_data         a volume's data; volumes/<name>/volume.json its metadata
 *   containers/<id>/container.json   the definition (ContainerRecord) and runtime bookkeeping
 *   containers/<id>/bundle/      the OCI bundle: config.json + rootfs/
 *   containers/<id>/{state,exit}.json, container.log   written by the monitor (native/)
 *   lock                         held while names (tags, container and volume names) change
 *
 * TSBAK_RUNTIME_ROOT moves it (tests); the default is /var/lib/tsbak/runtime.
 */
import { mkdirSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TsbakError, isErrno } from '../../errors.js';
import { pidAlive } from '../../util/process.js';

export const DEFAULT_RUNTIME_ROOT = '/var/lib/tsbak/runtime';

export class RuntimeRoot {
  readonly blobs: string;
  readonly blobTmp: string;
  readonly images: string;
  readonly volumes: string;
  readonly containers: string;

  constructor(readonly dir: string) {
    this.blobs = path.join(dir, 'blobs', 'sha256');
    this.blobTmp = path.join(dir, 'blobs', 'tmp');
    this.images = path.join(dir, 'images');
    this.volumes = path.join(dir, 'volumes');
    this.containers = path.join(dir, 'containers');
  }

  static locate(dir: string = process.env.TSBAK_RUNTIME_ROOT || DEFAULT_RUNTIME_ROOT): RuntimeRoot {
    const root = new RuntimeRoot(path.resolve(dir));
    for (const d of [root.blobs, root.blobTmp, root.images, root.volumes, root.containers]) mkdirSync(d, { recursive: true, mode: 0o700 });
    return root;
  }

  blob(hex: string): string {
    return path.join(this.blobs, hex);
  }

  container(id: string): string {
    return path.join(this.containers, id);
  }

  /**
   * Runs `fn` holding the runtime's lock, so two tsbak processes never give
   * one name to two things. A lock left by a dead process is taken over.
   */
  async locked<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
    const file = path.join(this.dir, 'lock');
    const deadline = Date.now() + timeoutMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        const fh = await fsp.open(file, 'wx', 0o600);
        await fh.writeFile(`${process.pid}\n`);
        await fh.close();
        break;
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
        const owner = Number((await fsp.readFile(file, 'utf8').catch(() => '')).trim());
        if (owner > 0 && !pidAlive(owner)) {
          await fsp.rm(file, { force: true });
          continue;
        }
        if (Date.now() > deadline) throw new TsbakError(`the runtime at ${this.dir} is locked by process ${owner || '?'}; wait for it, or remove ${file} if that process is gone`);
        await sleep(delay);
      }
    }
    try {
      return await fn();
    } finally {
      await fsp.rm(file, { force: true });
    }
  }
}

