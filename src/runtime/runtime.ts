/**
 * The seam between tsbak's operations (backup, restore) and whatever runs
 * containers: a Docker engine (runtime/docker) or tsbak's own runtime
 * (runtime/builtin). ops/ sees only this interface; each adapter owns its
 * transport (the Engine API, the runtime's state directory).
 *
 * Images are a source (`save`, a docker save stream whose layers the
 * archive reader verifies against their diffIDs) and a destination (`load`,
 * from the repository's blobs). Container definitions cross the seam as the
 * runtime-neutral ContainerRecord.
 */
import type { Readable } from 'node:stream';
import type { ContainerRecord } from '../container/model.js';
import type { ImageRecord } from '../image/model.js';
import type { BlobSource } from '../repo/blob-store.js';
import type { Digest } from '../util/digest.js';

export type RuntimeKind = 'docker' | 'runtime';

export interface RuntimeImage {
  /** sha256 of the image config: the image id. */
  id: Digest;
  /** repo:tag names (no `<none>`). */
  names: string[];
  repoDigests: string[];
  /** diffIDs, bottom first. */
  layers: Digest[];
  /** Uncompressed size, when the runtime knows it. */
  size?: number;
  os?: string;
  architecture?: string;
}

export interface RuntimeVolume {
  name: string;
  driver: string;
  /** The directory holding the volume's data on this host. */
  mountpoint: string;
  labels: Record<string, string>;
  options: Record<string, string>;
}

export interface RuntimeContainer {
  id: string;
  name: string;
  running: boolean;
  /** Paused by the runtime's own pause (docker pause): the freezer is already in use. */
  paused: boolean;
  /** The host pid of its first process while it runs, else 0. */
  pid: number;
  labels: Record<string, string>;
  /** The definition as a snapshot keeps it. */
  record: ContainerRecord;
}

export interface ContainerFilter {
  /** Only containers that mount this named volume. */
  volume?: string;
  /** Only running (true) containers. */
  running?: boolean;
}

export interface ExecResult {
  exitCode: number;
  /** The command's combined output: its last 64 KiB. */
  output: string;
}

export interface CreateResult {
  id: string;
  /** Something the user should know (a network that could not be attached). */
  note?: string;
}

export interface RuntimeImages {
  /** Every image with a name (an adapter may leave untagged ones out). */
  list(): Promise<RuntimeImage[]>;
  /** By name, id or id prefix; undefined when absent. */
  find(ref: string): Promise<RuntimeImage | undefined>;
  /** Like find, but a NotFoundError naming the image when absent. */
  inspect(ref: string): Promise<RuntimeImage>;
  /** A docker save stream of these images (names or ids); shared layers appear once. */
  save(refs: string[]): Promise<Readable>;
  /** Store these images, reading config and layers from `blobs`; their names point at them afterwards. */
  load(images: ImageRecord[], blobs: BlobSource): Promise<void>;
  /** Point `name` (repo:tag) at an image id. */
  tag(id: string, name: string): Promise<void>;
}

export interface RuntimeVolumes {
  list(): Promise<RuntimeVolume[]>;
  find(name: string): Promise<RuntimeVolume | undefined>;
  inspect(name: string): Promise<RuntimeVolume>;
  create(name: string, driver: string, labels: Record<string, string>, options: Record<string, string>): Promise<RuntimeVolume>;
}

export interface RuntimeContainers {
  list(filter?: ContainerFilter): Promise<RuntimeContainer[]>;
  find(ref: string): Promise<RuntimeContainer | undefined>;
  inspect(ref: string): Promise<RuntimeContainer>;
  /**
   * Create from a definition, from the image `image` (a name or id this
   * runtime has). With `dryRun`, only check that it could be created (image,
   * networks) and return the note.
   */
  create(record: ContainerRecord, image: string, options?: { dryRun?: boolean }): Promise<CreateResult>;
  start(ref: string): Promise<void>;
  /** Stop signal, then SIGKILL after `timeoutSeconds` (default: the container's own, else 10). */
  stop(ref: string, timeoutSeconds?: number): Promise<void>;
  remove(ref: string, options?: { force?: boolean }): Promise<void>;
  /** `sh -c command` inside the running container, with a timeout. */
  exec(ref: string, command: string, timeoutMs: number): Promise<ExecResult>;
}

export interface ContainerRuntime {
  readonly kind: RuntimeKind;
  /** Where it is: the engine's DOCKER_HOST, or the runtime's root directory. */
  readonly location: string;
  /** For messages: `the engine at unix:///…`, `tsbak's runtime at /var/lib/tsbak/runtime`. */
  readonly description: string;
  /** The runtime's version string (the engine's Version). */
  version(): Promise<string>;
  readonly images: RuntimeImages;
  readonly volumes: RuntimeVolumes;
  readonly containers: RuntimeContainers;
}
