/**
 * Docker's container inspect output → the runtime-neutral ContainerRecord.
 * What the neutral model names is translated; what only Docker understands
 * (resources, devices, log config, security options…) stays in
 * `extensions.docker`, minus the fields that describe the old host.
 */
import type { ContainerRecord, EndpointSpec, MountSpec, PortSpec, RestartPolicy } from '../../container/model.js';

/** The parts of GET /containers/{id}/json that tsbak reads. */
export interface ContainerInspect {
  Id: string;
  Name: string;
  Image: string;
  State: { Running: boolean; Paused?: boolean; Pid: number; Status?: string };
  Config: Record<string, unknown> & { Image?: string; Hostname?: string; Labels?: Record<string, string> | null };
  HostConfig: Record<string, unknown>;
  NetworkSettings?: { Networks?: Record<string, DockerEndpoint> };
  Mounts: { Type: string; Name?: string; Source: string; Destination: string; RW: boolean; Driver?: string }[];
}

export interface DockerEndpoint {
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null;
  Links?: string[] | null;
}

/** Config keys the neutral record carries. */
export const MODELLED_CONFIG = [
  'Image', 'Entrypoint', 'Cmd', 'Env', 'WorkingDir', 'User', 'Hostname', 'Domainname', 'Labels', 'Tty', 'OpenStdin', 'StopSignal', 'StopTimeout',
];
/** HostConfig keys the neutral record carries (mounts are rebuilt from `mounts` as HostConfig.Mounts). */
export const MODELLED_HOST_CONFIG = ['RestartPolicy', 'NetworkMode', 'PortBindings', 'VolumesFrom', 'Links', 'IpcMode', 'PidMode', 'Binds', 'Mounts', 'Tmpfs'];
/**
 * HostConfig fields that describe the source host rather than the container:
 * dropped so that the engine that re-creates it fills in its own defaults.
 */
const HOST_SPECIFIC = ['ContainerIDFile', 'MaskedPaths', 'ReadonlyPaths', 'ConsoleSize'];
/** Networks every engine has; attached through HostConfig.NetworkMode, not endpoints. */
const BUILTIN_NETWORKS = new Set(['bridge', 'host', 'none']);
const RESTART_NAMES = new Set<RestartPolicy['name']>(['no', 'always', 'unless-stopped', 'on-failure']);

export function captureContainer(inspect: ContainerInspect): ContainerRecord {
  const c = inspect.Config;
  const h = inspect.HostConfig;
  const shortId = inspect.Id.slice(0, 12);
  const record: ContainerRecord = {
    name: inspect.Name.replace(/^\//, ''),
    id: inspect.Id,
    image: c.Image ?? inspect.Image,
    imageId: inspect.Image,
    entrypoint: stringList(c.Entrypoint),
    cmd: stringList(c.Cmd),
    env: stringList(c.Env) ?? [],
    workingDir: typeof c.WorkingDir === 'string' ? c.WorkingDir : '',
    user: typeof c.User === 'string' ? c.User : '',
    labels: { ...(c.Labels ?? {}) },
    tty: c.Tty === true,
    openStdin: c.OpenStdin === true,
    restart: restartPolicy(h.RestartPolicy),
    network: { mode: typeof h.NetworkMode === 'string' && h.NetworkMode !== '' ? h.NetworkMode : 'default', endpoints: endpoints(inspect, shortId) },
    mounts: mounts(inspect),
    ports: ports(h.PortBindings),
    volumesFrom: stringList(h.VolumesFrom) ?? [],
    links: stringList(h.Links) ?? [],
    running: inspect.State.Running,
    extensions: { docker: dockerExtension(inspect) },
  };
  // Docker sets Hostname to the short id unless the user chose one; a re-created container gets its own.
  if (typeof c.Hostname === 'string' && c.Hostname !== '' && c.Hostname !== shortId) record.hostname = c.Hostname;
  if (typeof c.Domainname === 'string' && c.Domainname !== '') record.domainname = c.Domainname;
  if (typeof c.StopSignal === 'string' && c.StopSignal !== '') record.stopSignal = c.StopSignal;
  if (typeof c.StopTimeout === 'number') record.stopTimeout = c.StopTimeout;
  if (typeof h.IpcMode === 'string' && h.IpcMode !== '') record.ipcMode = h.IpcMode;
  if (typeof h.PidMode === 'string' && h.PidMode !== '') record.pidMode = h.PidMode;
  return record;
}

function dockerExtension(inspect: ContainerInspect): { config: Record<string, unknown>; hostConfig: Record<string, unknown> } {
  const config = { ...inspect.Config };
  for (const key of MODELLED_CONFIG) delete config[key];
  const hostConfig = { ...inspect.HostConfig };
  for (const key of [...MODELLED_HOST_CONFIG, ...HOST_SPECIFIC]) delete hostConfig[key];
  return { config, hostConfig };
}

function stringList(value: unknown): string[] | null {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : null;
}

function restartPolicy(value: unknown): RestartPolicy {
  const p = (value ?? {}) as { Name?: string; MaximumRetryCount?: number };
  const name = p.Name && RESTART_NAMES.has(p.Name as RestartPolicy['name']) ? (p.Name as RestartPolicy['name']) : 'no';
  return { name, maximumRetryCount: p.MaximumRetryCount ?? 0 };
}

function endpoints(inspect: ContainerInspect, shortId: string): Record<string, EndpointSpec> {
  const out: Record<string, EndpointSpec> = {};
  for (const [name, e] of Object.entries(inspect.NetworkSettings?.Networks ?? {})) {
    if (BUILTIN_NETWORKS.has(name)) continue;
    // Docker adds the short id as an alias on user networks; it would be wrong on the new host.
    const spec: EndpointSpec = { aliases: (e.Aliases ?? []).filter((a) => a !== shortId), links: e.Links ?? [] };
    if (e.IPAMConfig?.IPv4Address) spec.ipv4Address = e.IPAMConfig.IPv4Address;
    if (e.IPAMConfig?.IPv6Address) spec.ipv6Address = e.IPAMConfig.IPv6Address;
    out[name] = spec;
  }
  return out;
}

function mounts(inspect: ContainerInspect): MountSpec[] {
  const out: MountSpec[] = [];
  for (const m of inspect.Mounts) {
    if (m.Type === 'volume' && m.Name) out.push({ type: 'volume', name: m.Name, destination: m.Destination, readOnly: !m.RW });
    else if (m.Type === 'bind') out.push({ type: 'bind', source: m.Source, destination: m.Destination, readOnly: !m.RW });
  }
  const tmpfs = (inspect.HostConfig.Tmpfs ?? {}) as Record<string, string>;
  for (const [destination, opts] of Object.entries(tmpfs)) {
    out.push({ type: 'tmpfs', destination, options: opts ? opts.split(',').filter(Boolean) : [] });
  }
  return out;
}

function ports(value: unknown): PortSpec[] {
  const out: PortSpec[] = [];
  for (const [key, bindings] of Object.entries((value ?? {}) as Record<string, { HostIp?: string; HostPort?: string }[] | null>)) {
    const [port, proto] = key.split('/');
    const protocol = proto === 'udp' || proto === 'sctp' ? proto : 'tcp';
    for (const b of bindings ?? []) out.push({ containerPort: Number(port), protocol, hostIp: b.HostIp ?? '', hostPort: b.HostPort ?? '' });
  }
  return out;
}
