/** The built-in runtime's named volumes: a directory each, `volumes/<name>/_data`, with its metadata beside it. */
import { promises as fsp, readdirSync } from 'node:fs';
import path from 'node:path';
import { NotFoundError, TsbakError, UsageError, isErrno } from '../../errors.js';
import { writeJsonAtomic } from '../../util/atomic-file.js';
import type { RuntimeVolume, RuntimeVolumes } from '../runtime.js';
import type { RuntimeRoot } from './root.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

interface VolumeFile {
  name: string;
  driver: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  created: string;
}

export class BuiltinVolumes implements RuntimeVolumes {
  constructor(private readonly root: RuntimeRoot) {}

  private dir(name: string): string {
    if (!NAME_RE.test(name)) throw new UsageError(`"${name}" is not a valid volume name: letters, digits, '_', '.' and '-', starting with a letter or digit`);
    return path.join(this.root.volumes, name);
  }

  private volumeOf(file: VolumeFile): RuntimeVolume {
    return { name: file.name, driver: file.driver, mountpoint: path.join(this.dir(file.name), '_data'), labels: file.labels, options: file.options };
  }

  async list(): Promise<RuntimeVolume[]> {
    const out: RuntimeVolume[] = [];
    for (const name of readdirSync(this.root.volumes).sort()) {
      if (!NAME_RE.test(name)) continue;
      const v = await this.find(name);
      if (v) out.push(v);
    }
    return out;
  }

  async find(name: string): Promise<RuntimeVolume | undefined> {
    try {
      return this.volumeOf(JSON.parse(await fsp.readFile(path.join(this.dir(name), 'volume.json'), 'utf8')) as VolumeFile);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async inspect(name: string): Promise<RuntimeVolume> {
    const v = await this.find(name);
    if (!v) throw new NotFoundError(`volume ${name} does not exist in the runtime at ${this.root.dir}`);
    return v;
  }

  /** Creates the volume (under the runtime lock); only the `local` driver exists here. */
  async create(name: string, driver: string, labels: Record<string, string>, options: Record<string, string>): Promise<RuntimeVolume> {
    if (driver !== 'local') throw new TsbakError(`volume ${name} uses driver ${driver}; the built-in runtime has only local volumes`);
    if (Object.keys(options).length > 0) throw new TsbakError(`volume ${name} has driver options (${Object.keys(options).join(', ')}); the built-in runtime's local volumes take none`);
    return this.root.locked(async () => {
      const existing = await this.find(name);
      if (existing) return existing;
      const dir = this.dir(name);
      await fsp.mkdir(path.join(dir, '_data'), { recursive: true, mode: 0o755 });
      await writeJsonAtomic(path.join(dir, 'volume.json'), { name, driver, labels, options, created: new Date().toISOString() } satisfies VolumeFile);
      return this.inspect(name);
    });
  }

  /** Removes a volume and its data; the caller checks that no container uses it. */
  async remove(name: string): Promise<void> {
    await this.inspect(name);
    await fsp.rm(this.dir(name), { recursive: true, force: true });
  }
}
