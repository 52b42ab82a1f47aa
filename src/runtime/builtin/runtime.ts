/** tsbak's own container runtime behind the ContainerRuntime seam. */
import { PassThrough, type Readable } from 'node:stream';
import type { ImageRecord } from '../../image/model.js';
import { writeImageArchive } from '../../image/archive/writer.js';
import type { BlobSource } from '../../repo/blob-store.js';
import { VERSION } from '../../version.js';
import { LauncherUnavailableError } from '../launcher.js';
import type { ContainerRuntime, RuntimeImage, RuntimeImages } from '../runtime.js';
import { BuiltinContainers } from './containers.js';
import { ImageStore } from './image-store.js';
import { RuntimeRoot } from './root.js';
import { BuiltinVolumes } from './volumes.js';

export class BuiltinRuntime implements ContainerRuntime {
  readonly kind = 'runtime' as const;
  readonly location: string;
  readonly description: string;
  readonly store: ImageStore;
  readonly images: BuiltinImages;
  readonly volumes: BuiltinVolumes;
  readonly containers: BuiltinContainers;

  constructor(readonly root: RuntimeRoot) {
    this.location = root.dir;
    this.description = `tsbak's runtime at ${root.dir}`;
    this.store = new ImageStore(root);
    this.images = new BuiltinImages(root, this.store);
    this.volumes = new BuiltinVolumes(root);
    this.containers = new BuiltinContainers(root, this.store, this.volumes);
  }

  /** The runtime at TSBAK_RUNTIME_ROOT, else /var/lib/tsbak/runtime (created). */
  static open(dir?: string): BuiltinRuntime {
    if (process.getuid?.() !== 0) throw new LauncherUnavailableError('the built-in runtime needs root (namespaces, cgroups, mounts): run tsbak as root');
    return new BuiltinRuntime(RuntimeRoot.locate(dir));
  }

  async version(): Promise<string> {
    return VERSION;
  }
}

/** The image side: the store's records as RuntimeImages, save streams written from its blobs. */
export class BuiltinImages implements RuntimeImages {
  constructor(
    private readonly root: RuntimeRoot,
    private readonly store: ImageStore,
  ) {}

  list(): Promise<RuntimeImage[]> {
    return this.store.list();
  }

  find(ref: string): Promise<RuntimeImage | undefined> {
    return this.store.find(ref);
  }

  inspect(ref: string): Promise<RuntimeImage> {
    return this.store.inspect(ref);
  }

  /** A docker save-compatible stream (both layouts) of the images, written from the store's verified blobs. */
  async save(refs: string[]): Promise<Readable> {
    const records: ImageRecord[] = [];
    for (const ref of refs) records.push(this.recordOf(await this.store.inspect(ref)));
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    writeImageArchive(records, this.store, out).catch((err: unknown) => out.destroy(err as Error));
    return out;
  }

  /** Copies config and layers from `blobs` (verified), then records the images and their names. */
  async load(images: ImageRecord[], blobs: BlobSource): Promise<void> {
    for (const image of images) {
      for (const digest of [image.config, ...image.layers.map((l) => l.diffID)]) await this.store.copyFrom(blobs, digest);
    }
    await this.root.locked(async () => {
      for (const image of images) await this.store.addImage(image);
    });
  }

  tag(id: string, name: string): Promise<void> {
    return this.root.locked(() => this.store.tag(id, name));
  }

  recordOf(img: RuntimeImage): ImageRecord {
    const record: ImageRecord = {
      names: img.names,
      repoDigests: img.repoDigests,
      config: img.id,
      configSize: this.store.size(img.id),
      layers: img.layers.map((diffID) => ({ diffID, size: this.store.size(diffID) })),
    };
    if (img.os) record.os = img.os;
    if (img.architecture) record.architecture = img.architecture;
    return record;
  }
}
