import type { ContainerRecord } from './model.js';

/** The parts of GET /containers/{id}/json that tsbak reads. */
export interface ContainerInspect {
  Id: string;
  Name: string;
  Image: string;
  State: { Running: boolean; Paused?: boolean; Pid: number; Status?: string };
  Config: Record<string, unknown> & { Image?: string; Hostname?: string; Labels?: Record<string, string> | null };
  HostConfig: Record<string, unknown>;
  NetworkSettings?: { Networks?: Record<string, { Aliases?: string[] | null; IPAMConfig?: unknown; Links?: string[] | null }> };
  Mounts: { Type: string; Name?: string; Source: string; Destination: string; RW: boolean; Driver?: string }[];
}

/**
 * HostConfig fields that describe the source host rather than the container:
 * dropped so that the engine that re-creates it fills in its own defaults.
 */
const HOST_SPECIFIC = ['ContainerIDFile', 'MaskedPaths', 'ReadonlyPaths', 'ConsoleSize'];
/** Networks every engine has; attached through HostConfig.NetworkMode, not endpoints. */
const BUILTIN_NETWORKS = new Set(['bridge', 'host', 'none']);

export function captureContainer(inspect: ContainerInspect): ContainerRecord {
  const config = { ...inspect.Config };
  // Docker sets Hostname to the short id unless the user chose one; a re-created container gets its own.
  if (config.Hostname === inspect.Id.slice(0, 12)) delete config.Hostname;
  const hostConfig = { ...inspect.HostConfig };
  for (const key of HOST_SPECIFIC) delete hostConfig[key];
  const networks: ContainerRecord['networks'] = {};
  for (const [name, endpoint] of Object.entries(inspect.NetworkSettings?.Networks ?? {})) {
    if (BUILTIN_NETWORKS.has(name)) continue;
    // Docker adds the short id as an alias on user networks; it would be wrong on the new host.
    const aliases = (endpoint.Aliases ?? []).filter((a) => a !== inspect.Id.slice(0, 12));
    networks[name] = { Aliases: aliases, IPAMConfig: endpoint.IPAMConfig ?? null, Links: endpoint.Links ?? null };
  }
  return {
    name: inspect.Name.replace(/^\//, ''),
    id: inspect.Id,
    image: inspect.Config.Image ?? inspect.Image,
    imageId: inspect.Image,
    config,
    hostConfig,
    networks,
    volumes: inspect.Mounts.filter((m) => m.Type === 'volume' && m.Name).map((m) => ({
      name: m.Name as string,
      destination: m.Destination,
      readOnly: !m.RW,
    })),
    running: inspect.State.Running,
  };
}

/**
 * Containers that must exist before this one: `--network container:X`,
 * `--volumes-from X`, legacy links and `--ipc/--pid container:X`.
 */
export function containerDependencies(record: ContainerRecord): string[] {
  const deps = new Set<string>();
  const fromMode = (value: unknown) => {
    if (typeof value === 'string' && value.startsWith('container:')) deps.add(value.slice('container:'.length));
  };
  fromMode(record.hostConfig.NetworkMode);
  fromMode(record.hostConfig.IpcMode);
  fromMode(record.hostConfig.PidMode);
  for (const v of (record.hostConfig.VolumesFrom as string[] | null) ?? []) deps.add(v.split(':')[0] as string);
  for (const l of (record.hostConfig.Links as string[] | null) ?? []) deps.add((l.split(':')[0] as string).replace(/^\//, ''));
  deps.delete(record.name);
  return [...deps];
}

/** Order containers so each comes after what it depends on; cycles keep their input order. */
export function dependencyOrder(records: ContainerRecord[]): ContainerRecord[] {
  const byName = new Map(records.map((r) => [r.name, r]));
  const ordered: ContainerRecord[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (r: ContainerRecord) => {
    if (state.get(r.name)) return;
    state.set(r.name, 'visiting');
    for (const dep of containerDependencies(r)) {
      const d = byName.get(dep);
      if (d) visit(d);
    }
    state.set(r.name, 'done');
    ordered.push(r);
  };
  records.forEach(visit);
  return ordered;
}
