/**
 * Image config + container definition → the config.json of an OCI bundle
 * (runtime-spec 1.0.2), as Docker would run it: Docker's default mounts,
 * masked and read-only paths, capabilities, devices cgroup allow-list and
 * namespaces. Pure: the caller resolves the user (resolveUser) and the
 * volumes' host directories first.
 *
 * What runs — Docker's own merge of a container's values with its image's:
 * a container entrypoint that is set and non-empty wins and takes the
 * container's cmd only (the image's Cmd belongs to the image's entrypoint);
 * otherwise the entrypoint is the container's (`[]` clears it) or else the
 * image's, and the cmd is the container's when non-empty, else the image's.
 * A record captured from Docker already holds the merged values, so they win.
 *
 * Env: the image's, overridden key by key by the container's; PATH defaults to
 * Docker's when neither sets it; HOSTNAME is the container's hostname unless
 * the env sets one; HOME comes from the user's passwd entry unless set.
 */
import path from 'node:path';
import type { ContainerRecord } from '../../container/model.js';
import type { ImageRunConfig } from '../../image/model.js';
import {
  DEFAULT_CAPABILITIES,
  DEFAULT_DEVICE_RULES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_MOUNTS,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
  DEFAULT_RLIMITS,
  TMPFS_DEFAULT_OPTIONS,
} from './docker-defaults.js';
import { RuntimeSpecError } from './errors.js';
import { OCI_VERSION, type OciMount, type OciNamespaceType, type OciSpec } from './oci.js';
import type { ResolvedUser } from './user.js';

/** A host directory (or file) bound into the container: a volume's data, or a bind mount. */
export interface BindMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

/** `none`: a network namespace of its own with only `lo` up; `host`: the host's network. */
export type RuntimeNetwork = 'none' | 'host';

export interface RuntimeSpecInput {
  /** The image's name, for messages. */
  imageName: string;
  /** The image config's `config` (User, Env, Entrypoint, Cmd, WorkingDir…); undefined when it has none. */
  image: ImageRunConfig | undefined;
  /** Its tmpfs mounts are taken from `mounts`; volume and bind mounts come resolved in `volumes`. */
  container: Pick<ContainerRecord, 'entrypoint' | 'cmd' | 'env' | 'workingDir' | 'mounts'>;
  /** Absolute path of the unpacked root filesystem. */
  rootfs: string;
  user: ResolvedUser;
  /** The volumes' (and bind mounts') host directories and where they go. */
  volumes: BindMount[];
  network: RuntimeNetwork;
  /** The container's cgroup below each hierarchy, e.g. `/tsbak/<id>`. */
  cgroupsPath: string;
  hostname: string;
  readonlyRootfs?: boolean;
  limits?: { pids?: number; memoryBytes?: number };
}

/** The command line, by Docker's merge rule (see the module comment). */
export function containerArgs(container: Pick<ContainerRecord, 'entrypoint' | 'cmd'>, image: ImageRunConfig | undefined): string[] {
  const entrypoint = container.entrypoint;
  if (entrypoint && entrypoint.length > 0) return [...entrypoint, ...(container.cmd ?? [])];
  const cmd = container.cmd && container.cmd.length > 0 ? container.cmd : (image?.Cmd ?? []);
  return [...(entrypoint ?? image?.Entrypoint ?? []), ...cmd];
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** The environment, by Docker's rules (see the module comment). */
export function containerEnv(imageEnv: readonly string[], containerEnv: readonly string[], hostname: string, home: string): string[] {
  const merged = new Map<string, string>();
  for (const entry of [...imageEnv, ...containerEnv]) {
    if (!entry.includes('=')) continue; // `KEY` alone means "from the client's env" in docker run; nothing to pass here
    merged.set(envKey(entry), entry);
  }
  const env = new Map<string, string>();
  if (!merged.has('PATH')) env.set('PATH', `PATH=${DEFAULT_PATH}`);
  env.set('HOSTNAME', `HOSTNAME=${hostname}`);
  for (const [key, entry] of merged) env.set(key, entry);
  if (!env.has('HOME')) env.set('HOME', `HOME=${home}`);
  return [...env.values()];
}

/** An absolute, normalised container path (`..` resolved lexically, as Docker cleans paths). */
function containerPath(p: string, what: string): string {
  if (!p.startsWith('/')) throw new RuntimeSpecError(`${what} \`${p}\` must be an absolute path inside the container`);
  if (p.includes('\0')) throw new RuntimeSpecError(`${what} \`${p}\` contains a NUL byte`);
  const clean = path.posix.normalize(p);
  return clean.length > 1 ? clean.replace(/\/+$/, '') : clean;
}

function depth(p: string): number {
  return p === '/' ? 0 : p.split('/').length - 1;
}

function userMounts(input: RuntimeSpecInput): OciMount[] {
  const mounts: OciMount[] = [];
  for (const b of input.volumes) {
    if (!path.isAbsolute(b.source)) throw new RuntimeSpecError(`bind source \`${b.source}\` must be an absolute host path`);
    const destination = containerPath(b.destination, 'volume destination');
    if (destination === '/') throw new RuntimeSpecError(`volume \`${b.source}\` cannot be mounted over the container's root`);
    mounts.push({ destination, type: 'bind', source: b.source, options: ['rbind', 'rprivate', b.readOnly ? 'ro' : 'rw'] });
  }
  for (const m of input.container.mounts) {
    if (m.type !== 'tmpfs') continue;
    const destination = containerPath(m.destination, 'tmpfs destination');
    mounts.push({ destination, type: 'tmpfs', source: 'tmpfs', options: [...TMPFS_DEFAULT_OPTIONS, ...m.options] });
  }
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.destination)) throw new RuntimeSpecError(`two mounts have the destination ${m.destination}; keep one`);
    seen.add(m.destination);
  }
  // Parents before children, as Docker sorts them (stable for equal depth).
  return mounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i).map((x) => x.m);
}

export function buildRuntimeSpec(input: RuntimeSpecInput): OciSpec {
  const image = input.image;
  const args = containerArgs(input.container, image);
  if (args.length === 0 || args[0] === '') {
    throw new RuntimeSpecError(`image ${input.imageName} has no entrypoint or command; give one`);
  }
  if (!path.isAbsolute(input.rootfs)) throw new RuntimeSpecError(`the rootfs path \`${input.rootfs}\` must be absolute`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(input.hostname)) {
    throw new RuntimeSpecError(`hostname \`${input.hostname}\` is not valid: letters, digits, '_', '.' and '-', at most 63 characters`);
  }
  const workingDir = input.container.workingDir || image?.WorkingDir || '/';
  const cwd = path.posix.normalize(path.posix.join('/', workingDir));
  const env = containerEnv(image?.Env ?? [], input.container.env, input.hostname, input.user.home);
  const caps = [...DEFAULT_CAPABILITIES];

  const own = userMounts(input);
  const taken = new Set(own.map((m) => m.destination));
  const mounts = [...DEFAULT_MOUNTS.filter((m) => !taken.has(m.destination)).map((m) => ({ ...m, options: [...m.options] })), ...own];

  const namespaces: { type: OciNamespaceType }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (input.network === 'none') namespaces.splice(1, 0, { type: 'network' });

  const resources: OciSpec['linux']['resources'] = { devices: DEFAULT_DEVICE_RULES.map((d) => ({ ...d })) };
  if (input.limits?.pids !== undefined) resources.pids = { limit: input.limits.pids };
  if (input.limits?.memoryBytes !== undefined) resources.memory = { limit: input.limits.memoryBytes };

  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: [...input.user.additionalGids] },
      args,
      env,
      cwd,
      capabilities: { bounding: caps, effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] },
      rlimits: DEFAULT_RLIMITS.map((r) => ({ ...r })),
      noNewPrivileges: false,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs ?? false },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      cgroupsPath: input.cgroupsPath,
      resources,
    },
  };
}
