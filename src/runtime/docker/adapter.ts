/** The Docker engine behind the ContainerRuntime seam, over the Engine API. */
import type { Readable } from 'node:stream';
import type { ContainerRecord } from '../../container/model.js';
import type { ImageRecord } from '../../image/model.js';
import type { BlobSource } from '../../repo/blob-store.js';
import { TsbakError } from '../../errors.js';
import { parseDigest, shortId } from '../../util/digest.js';
import type {
  ContainerFilter,
  ContainerRuntime,
  CreateResult,
  ExecResult,
  RuntimeContainer,
  RuntimeContainers,
  RuntimeImage,
  RuntimeImages,
  RuntimeVolume,
  RuntimeVolumes,
} from '../runtime.js';
import { captureContainer, type ContainerInspect } from './capture.js';
import { EngineClient } from './client.js';
import { EngineContainers } from './containers.js';
import { dockerCreateBody } from './create-body.js';
import { execInContainer } from './exec.js';
import { EngineImages, type EngineImageInspect } from './images.js';
import { EngineVolumes, type VolumeInspect } from './volumes.js';

const UNTAGGED = '<none>:<none>';
const BUILTIN_NETWORK_MODES = new Set(['default', 'bridge', 'host', 'none']);

export class DockerRuntime implements ContainerRuntime {
  readonly kind = 'docker' as const;
  readonly location: string;
  readonly description: string;
  readonly images: RuntimeImages;
  readonly volumes: RuntimeVolumes;
  readonly containers: RuntimeContainers;

  constructor(readonly client: EngineClient = new EngineClient()) {
    this.location = client.host;
    this.description = `the engine at ${client.host}`;
    this.images = new DockerImages(client);
    this.volumes = new DockerVolumes(client);
    this.containers = new DockerContainers(client);
  }

  async version(): Promise<string> {
    return (await new EngineImages(this.client).version()).Version;
  }
}

function imageOf(img: EngineImageInspect): RuntimeImage {
  const id = parseDigest(img.Id, `image ${shortId(img.Id)}`);
  const out: RuntimeImage = {
    id,
    names: (img.RepoTags ?? []).filter((t) => t !== UNTAGGED),
    repoDigests: img.RepoDigests ?? [],
    layers: (img.RootFS.Layers ?? []).map((l) => parseDigest(l, `layer of image ${shortId(img.Id)}`)),
  };
  if (img.Size !== undefined) out.size = img.Size;
  if (img.Os) out.os = img.Os;
  if (img.Architecture) out.architecture = img.Architecture;
  return out;
}

class DockerImages implements RuntimeImages {
  private readonly engine: EngineImages;
  constructor(private readonly client: EngineClient) {
    this.engine = new EngineImages(client);
  }

  async list(): Promise<RuntimeImage[]> {
    const out: RuntimeImage[] = [];
    // Untagged images (the legacy builder's intermediates) are many and never backed up by --all: not inspected.
    for (const summary of await this.engine.list()) {
      if ((summary.RepoTags ?? []).some((t) => t !== UNTAGGED)) out.push(imageOf(await this.engine.inspect(summary.Id)));
    }
    return out;
  }

  async find(ref: string): Promise<RuntimeImage | undefined> {
    const img = await this.engine.find(ref);
    return img && imageOf(img);
  }

  async inspect(ref: string): Promise<RuntimeImage> {
    return imageOf(await this.engine.inspect(ref));
  }

  save(refs: string[]): Promise<Readable> {
    return this.engine.save(refs);
  }

  async load(images: ImageRecord[], blobs: BlobSource): Promise<void> {
    // The archive writer (tar-stream) loads with the first load, not with every command that talks to the engine.
    const { loadImagesIntoEngine } = await import('./load.js');
    await loadImagesIntoEngine(this.client, images, blobs);
  }

  tag(id: string, name: string): Promise<void> {
    return this.engine.tag(id, name);
  }
}

function volumeOf(v: VolumeInspect): RuntimeVolume {
  return { name: v.Name, driver: v.Driver, mountpoint: v.Mountpoint, labels: v.Labels ?? {}, options: v.Options ?? {} };
}

class DockerVolumes implements RuntimeVolumes {
  private readonly engine: EngineVolumes;
  constructor(client: EngineClient) {
    this.engine = new EngineVolumes(client);
  }
  async list(): Promise<RuntimeVolume[]> {
    return (await this.engine.list()).map(volumeOf);
  }
  async find(name: string): Promise<RuntimeVolume | undefined> {
    const v = await this.engine.find(name);
    return v && volumeOf(v);
  }
  async inspect(name: string): Promise<RuntimeVolume> {
    return volumeOf(await this.engine.inspect(name));
  }
  async create(name: string, driver: string, labels: Record<string, string>, options: Record<string, string>): Promise<RuntimeVolume> {
    return volumeOf(await this.engine.create(name, driver, labels, options));
  }
}

function containerOf(inspect: ContainerInspect): RuntimeContainer {
  return {
    id: inspect.Id,
    name: inspect.Name.replace(/^\//, ''),
    running: inspect.State.Running,
    paused: inspect.State.Paused === true,
    pid: inspect.State.Running ? inspect.State.Pid : 0,
    labels: inspect.Config.Labels ?? {},
    record: captureContainer(inspect),
  };
}

class DockerContainers implements RuntimeContainers {
  private readonly engine: EngineContainers;
  constructor(private readonly client: EngineClient) {
    this.engine = new EngineContainers(client);
  }

  async list(filter: ContainerFilter = {}): Promise<RuntimeContainer[]> {
    const filters: Record<string, string[]> = {};
    if (filter.volume !== undefined) filters.volume = [filter.volume];
    if (filter.running) filters.status = ['running'];
    const out: RuntimeContainer[] = [];
    for (const summary of await this.engine.list(filters)) {
      const inspect = await this.engine.exists(summary.Id);
      if (inspect) out.push(containerOf(inspect));
    }
    return out;
  }

  async find(ref: string): Promise<RuntimeContainer | undefined> {
    const inspect = await this.engine.exists(ref);
    return inspect && containerOf(inspect);
  }

  async inspect(ref: string): Promise<RuntimeContainer> {
    return containerOf(await this.engine.inspect(ref));
  }

  async create(record: ContainerRecord, image: string, options: { dryRun?: boolean } = {}): Promise<CreateResult> {
    const mode = record.network.mode;
    if (!BUILTIN_NETWORK_MODES.has(mode) && !mode.startsWith('container:') && !(await this.engine.networkExists(mode))) {
      throw new TsbakError(`network ${mode} does not exist on this host; create it (docker network create ${mode}) and restore the container again`);
    }
    const present = new Set<string>();
    const missing: string[] = [];
    for (const name of Object.keys(record.network.endpoints)) {
      if (await this.engine.networkExists(name)) present.add(name);
      else missing.push(name);
    }
    const note = missing.length > 0 ? `not attached to missing network(s): ${missing.join(', ')}` : undefined;
    const { body, connectAfter } = dockerCreateBody(record, image, present);
    if (options.dryRun) return { id: '', ...(note ? { note } : {}) };
    const id = await this.engine.create(record.name, body);
    for (const [network, endpoint] of connectAfter) await this.engine.connect(record.name, network, endpoint);
    return { id, ...(note ? { note } : {}) };
  }

  start(ref: string): Promise<void> {
    return this.engine.start(ref);
  }

  stop(ref: string, timeoutSeconds?: number): Promise<void> {
    return this.engine.stop(ref, timeoutSeconds);
  }

  remove(ref: string, options: { force?: boolean } = {}): Promise<void> {
    return this.engine.remove(ref, options);
  }

  async exec(ref: string, command: string, timeoutMs: number): Promise<ExecResult> {
    return execInContainer(this.client, ref, command, timeoutMs);
  }
}

