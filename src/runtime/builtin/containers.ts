/**
 * The built-in runtime's containers. A container is a directory under
 * containers/<id>: its definition (container.json), its OCI bundle (rootfs
 * unpacked from the image at create, config.json written at each start) and
 * the monitor's state files. native/'s launcher runs it; state comes from the
 * monitor's files (pid + start time), so containers outlive the CLI and a
 * recycled pid is never taken for a live container.
 *
 * Networking is `none` (an own network namespace with only `lo`) or `host`;
 * Docker's bridge and user networks map to `none` with a note, published
 * ports are not forwarded, and container:X network/ipc/pid modes are refused.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerRecord, MountSpec } from '../../container/model.js';
import { NotFoundError, TsbakError, UsageError, isErrno } from '../../errors.js';
import { hostArchitecture } from '../../image/registry/pull.js';
import { writeJsonAtomic } from '../../util/atomic-file.js';
import type { Digest } from '../../util/digest.js';
import { readImageAccounts } from '../bundle/rootfs-read.js';
import { buildRuntimeSpec, type BindMount, type RuntimeNetwork } from '../bundle/spec.js';
import type { OciSpec } from '../bundle/oci.js';
import { resolveUser } from '../bundle/user.js';
import { writeBundle } from '../bundle/write.js';
import { execInContainer, readContainerState, signalContainer, startContainer, type ContainerState } from '../launcher.js';
import { unpackImage } from '../unpack/index.js';
import type { ContainerFilter, CreateResult, ExecResult, RuntimeContainer, RuntimeContainers } from '../runtime.js';
import type { ImageStore } from './image-store.js';
import type { RuntimeRoot } from './root.js';
import type { BuiltinVolumes } from './volumes.js';

/** containers/<id>/container.json */
export interface ContainerFile {
  id: string;
  name: string;
  /** The definition, with this runtime's id. */
  record: ContainerRecord;
  imageId: Digest;
  network: RuntimeNetwork;
  created: string;
  /** `stop` was asked for: `up` leaves it stopped unless its policy is `always`. */
  stoppedByUser: boolean;
  /** `run --rm`: removed once it has exited. */
  autoRemove: boolean;
  /** Set while the rootfs is being unpacked. */
  creating?: boolean;
}

/** A container with its monitor state. */
export interface BuiltinContainerInfo extends RuntimeContainer {
  file: ContainerFile;
  state: ContainerState;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const DEFAULT_STOP_TIMEOUT_S = 10;
const PRIVATE_MODES = new Set(['', 'private', 'shareable']);

export class BuiltinContainers implements RuntimeContainers {
  constructor(
    private readonly root: RuntimeRoot,
    private readonly images: ImageStore,
    private readonly volumes: BuiltinVolumes,
  ) {}

  // --- reading -------------------------------------------------------------

  private async readFile(id: string): Promise<ContainerFile | undefined> {
    try {
      return JSON.parse(await fsp.readFile(path.join(this.root.container(id), 'container.json'), 'utf8')) as ContainerFile;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  private async info(file: ContainerFile): Promise<BuiltinContainerInfo> {
    const state = await readContainerState(this.root.container(file.id));
    const running = state.status === 'running';
    return {
      id: file.id,
      name: file.name,
      running,
      paused: false,
      pid: running ? (state.pid ?? 0) : 0,
      labels: file.record.labels,
      record: { ...file.record, running },
      file,
      state,
    };
  }

  async all(): Promise<BuiltinContainerInfo[]> {
    const out: BuiltinContainerInfo[] = [];
    for (const id of readdirSync(this.root.containers)) {
      const file = /^[0-9a-f]{64}$/.test(id) ? await this.readFile(id) : undefined;
      if (file) out.push(await this.info(file));
    }
    return out.sort((a, b) => a.file.created.localeCompare(b.file.created));
  }

  async list(filter: ContainerFilter = {}): Promise<BuiltinContainerInfo[]> {
    return (await this.all()).filter(
      (c) => (!filter.running || c.running) && (filter.volume === undefined || c.record.mounts.some((m) => m.type === 'volume' && m.name === filter.volume)),
    );
  }

  /** By name, id, or unique id prefix. */
  async find(ref: string): Promise<BuiltinContainerInfo | undefined> {
    const all = await this.all();
    const exact = all.find((c) => c.name === ref.replace(/^\//, '') || c.id === ref);
    if (exact) return exact;
    if (!/^[0-9a-f]{1,64}$/.test(ref)) return undefined;
    const matches = all.filter((c) => c.id.startsWith(ref));
    if (matches.length > 1) throw new UsageError(`container id prefix ${ref} is ambiguous; give more digits or the name`);
    return matches[0];
  }

  async inspect(ref: string): Promise<BuiltinContainerInfo> {
    const c = await this.find(ref);
    if (!c) throw new NotFoundError(`container ${ref} does not exist in the runtime at ${this.root.dir}; see \`tsbak runtime ps -a\``);
    return c;
  }

  // --- create ----------------------------------------------------------------

  async create(record: ContainerRecord, image: string, options: { dryRun?: boolean; autoRemove?: boolean } = {}): Promise<CreateResult> {
    if (!NAME_RE.test(record.name)) throw new UsageError(`"${record.name}" is not a valid container name: letters, digits, '_', '.' and '-'`);
    const img = await this.images.inspect(image);
    const platform = `${img.os ?? 'linux'}/${img.architecture ?? hostArchitecture()}`;
    const here = `linux/${hostArchitecture()}`;
    if (platform !== here) throw new TsbakError(`image ${image} is for ${platform}; this host runs ${here}, so the built-in runtime cannot run it`);
    for (const [what, mode] of [['ipc', record.ipcMode], ['pid', record.pidMode]] as const) {
      if (mode !== undefined && !PRIVATE_MODES.has(mode)) {
        throw new TsbakError(`container ${record.name} uses --${what} ${mode}; the built-in runtime gives every container its own ${what} namespace`);
      }
    }
    const { network, notes } = networkOf(record);
    const mounts = await this.expandVolumesFrom(record);
    for (const m of mounts) {
      if (m.type === 'bind' && !existsSync(m.source)) throw new TsbakError(`container ${record.name}: bind mount source ${m.source} does not exist on this host`);
    }
    const note = notes.length > 0 ? notes.join('; ') : undefined;
    if (options.dryRun) return { id: '', ...(note ? { note } : {}) };

    for (const m of mounts) if (m.type === 'volume' && !(await this.volumes.find(m.name))) await this.volumes.create(m.name, 'local', {}, {});
    const id = randomBytes(32).toString('hex');
    const dir = this.root.container(id);
    const file: ContainerFile = {
      id,
      name: record.name,
      record: { ...record, id, imageId: img.id, mounts, volumesFrom: [], running: false },
      imageId: img.id,
      network,
      created: new Date().toISOString(),
      stoppedByUser: false,
      autoRemove: options.autoRemove === true,
    };
    // The name is taken under the lock; the rootfs is unpacked after, so a second create waits only for the check.
    await this.root.locked(async () => {
      if (await this.find(record.name)) throw new TsbakError(`a container named ${record.name} already exists in the runtime; remove it (tsbak runtime rm ${record.name}) or pick another name`);
      await fsp.mkdir(path.join(dir, 'bundle', 'rootfs'), { recursive: true, mode: 0o700 });
      await writeJsonAtomic(path.join(dir, 'container.json'), { ...file, creating: true });
    });
    try {
      await fsp.chmod(path.join(dir, 'bundle', 'rootfs'), 0o755);
      await unpackImage(path.join(dir, 'bundle', 'rootfs'), this.images.layerStreams(img));
      await writeJsonAtomic(path.join(dir, 'container.json'), file);
    } catch (err) {
      await fsp.rm(dir, { recursive: true, force: true });
      throw err;
    }
    return { id, ...(note ? { note } : {}) };
  }

  /** `--volumes-from X[:ro|rw]`: X's volume and bind mounts, joined to the record's own. */
  private async expandVolumesFrom(record: ContainerRecord): Promise<MountSpec[]> {
    const mounts = [...record.mounts];
    for (const spec of record.volumesFrom) {
      const [name, mode] = spec.split(':') as [string, string | undefined];
      const from = await this.find(name);
      if (!from) throw new TsbakError(`container ${record.name} takes volumes from ${name}, which does not exist in the runtime; restore or create it first`);
      for (const m of from.record.mounts) {
        if (m.type === 'tmpfs' || mounts.some((x) => x.destination === m.destination)) continue;
        mounts.push(mode === 'ro' || mode === 'rw' ? { ...m, readOnly: mode === 'ro' } : m);
      }
    }
    return mounts;
  }

  // --- start / stop ----------------------------------------------------------

  async start(ref: string): Promise<void> {
    const c = await this.inspect(ref);
    if (c.running) return;
    const dir = this.root.container(c.id);
    const spec = await this.spec(c.file);
    await writeBundle(path.join(dir, 'bundle'), spec);
    await startContainer({ bundle: path.join(dir, 'bundle'), stateDir: dir, id: c.id });
    if (c.file.stoppedByUser) await this.update(c.file, { stoppedByUser: false });
  }

  private async spec(file: ContainerFile): Promise<OciSpec> {
    const rootfs = path.join(this.root.container(file.id), 'bundle', 'rootfs');
    const config = (await this.images.config(file.imageId)).config;
    const accounts = readImageAccounts(rootfs);
    const record = file.record;
    const user = resolveUser(record.user || config?.User || '', accounts.passwd, accounts.group);
    const volumes: BindMount[] = [];
    for (const m of record.mounts) {
      if (m.type === 'volume') volumes.push({ source: (await this.volumes.inspect(m.name)).mountpoint, destination: m.destination, readOnly: m.readOnly });
      else if (m.type === 'bind') volumes.push({ source: m.source, destination: m.destination, readOnly: m.readOnly });
    }
    return buildRuntimeSpec({
      imageName: record.image,
      image: config,
      container: record,
      rootfs,
      user,
      volumes,
      network: file.network,
      cgroupsPath: `/tsbak/${file.id}`,
      hostname: record.hostname ?? file.id.slice(0, 12),
    });
  }

  /**
   * The stop signal (the container's, else the image's, else SIGTERM), then
   * SIGKILL once `timeoutSeconds` have passed (default: the container's stop
   * timeout, else 10 s). Resolves when it has exited.
   */
  async stop(ref: string, timeoutSeconds?: number): Promise<void> {
    const c = await this.inspect(ref);
    await this.update(c.file, { stoppedByUser: true });
    if (!c.running) return;
    const dir = this.root.container(c.id);
    const config = (await this.images.config(c.file.imageId).catch(() => undefined))?.config;
    const signal = signalNumber(c.record.stopSignal ?? config?.StopSignal ?? 'SIGTERM');
    const timeout = (timeoutSeconds ?? c.record.stopTimeout ?? DEFAULT_STOP_TIMEOUT_S) * 1000;
    await signalContainer(dir, signal);
    if (await this.waitExit(dir, timeout)) return;
    await signalContainer(dir, 'SIGKILL');
    if (!(await this.waitExit(dir, 10_000))) throw new TsbakError(`container ${c.name} did not exit after SIGKILL (is its process stuck in the kernel?)`);
  }

  private async waitExit(dir: string, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if ((await readContainerState(dir)).status !== 'running') return true;
      if (Date.now() >= deadline) return false;
      await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
    }
  }

  async remove(ref: string, options: { force?: boolean } = {}): Promise<void> {
    const c = await this.inspect(ref);
    if (c.running) {
      if (!options.force) throw new TsbakError(`container ${c.name} is running; stop it first or remove it with --force`);
      await signalContainer(this.root.container(c.id), 'SIGKILL');
      if (!(await this.waitExit(this.root.container(c.id), 10_000))) throw new TsbakError(`container ${c.name} did not exit after SIGKILL`);
    }
    await fsp.rm(this.root.container(c.id), { recursive: true, force: true });
  }

  async exec(ref: string, command: string, timeoutMs: number): Promise<ExecResult> {
    const c = await this.inspect(ref);
    const spec = JSON.parse(await fsp.readFile(path.join(this.root.container(c.id), 'bundle', 'config.json'), 'utf8')) as OciSpec;
    const u = spec.process.user;
    return execInContainer(this.root.container(c.id), {
      cmd: ['sh', '-c', command],
      env: spec.process.env,
      cwd: spec.process.cwd,
      user: { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids ?? [] },
      timeoutMs,
    });
  }

  /** Starts what the restart policies say should run (boot, or after a crash): always; unless-stopped unless stopped; on-failure after a failure. */
  async up(onError: (name: string, err: unknown) => void): Promise<string[]> {
    const started: string[] = [];
    for (const c of await this.all()) {
      if (c.running || !wantsRunning(c)) continue;
      try {
        await this.start(c.id);
        started.push(c.name);
      } catch (err) {
        onError(c.name, err);
      }
    }
    return started;
  }

  /** Removes exited `run --rm` containers. */
  async reap(): Promise<void> {
    for (const c of await this.all()) {
      if (c.file.autoRemove && c.state.status !== 'running') await fsp.rm(this.root.container(c.id), { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async update(file: ContainerFile, change: Partial<ContainerFile>): Promise<void> {
    await writeJsonAtomic(path.join(this.root.container(file.id), 'container.json'), { ...file, ...change });
  }
}

function wantsRunning(c: BuiltinContainerInfo): boolean {
  switch (c.record.restart.name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return !c.file.stoppedByUser;
    case 'on-failure':
      return !c.file.stoppedByUser && c.state.status === 'exited' && (c.state.exitCode ?? 0) !== 0;
    default:
      return false;
  }
}

/** none or host; what the built-in runtime cannot do becomes a note. */
function networkOf(record: ContainerRecord): { network: RuntimeNetwork; notes: string[] } {
  const notes: string[] = [];
  const mode = record.network.mode;
  if (mode.startsWith('container:')) {
    throw new TsbakError(`container ${record.name} shares the network of ${mode.slice('container:'.length)}; the built-in runtime cannot join another container's network`);
  }
  const network: RuntimeNetwork = mode === 'host' ? 'host' : 'none';
  if (mode !== 'host' && mode !== 'none') notes.push(`network ${mode} is not available in the built-in runtime: the container gets its own network namespace with only lo`);
  const endpoints = Object.keys(record.network.endpoints).filter((n) => n !== mode);
  if (endpoints.length > 0) notes.push(`not attached to network(s) ${endpoints.join(', ')}`);
  if (record.ports.length > 0 && network === 'none') notes.push(`published ports (${record.ports.map((p) => `${p.hostPort}:${p.containerPort}/${p.protocol}`).join(', ')}) are not forwarded`);
  return { network, notes };
}

/** `SIGTERM`, `TERM`, `15` → a signal number. */
export function signalNumber(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const key = (name.startsWith('SIG') ? name : `SIG${name}`).toUpperCase() as NodeJS.Signals;
  const n = os.constants.signals[key];
  if (n === undefined) throw new UsageError(`unknown stop signal ${name}`);
  return n;
}

export function describeState(c: BuiltinContainerInfo): string {
  switch (c.state.status) {
    case 'running':
      return `running (pid ${c.state.pid})`;
    case 'exited':
      return `exited (${c.state.exitCode}${c.state.signal ? `, ${c.state.signal}` : ''})`;
    default:
      return c.state.started ? 'dead (its monitor is gone)' : 'created';
  }
}

