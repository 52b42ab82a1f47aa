/**
 * The runtime-neutral ContainerRecord → a POST /containers/create body.
 * The Docker-only remainder (extensions.docker) is the base; every field the
 * neutral record names is written over it, so a record edited or produced by
 * another runtime says what runs.
 */
import type { ContainerRecord } from '../../container/model.js';

export interface CreateBody {
  body: Record<string, unknown>;
  /** User networks beyond the first: engines before API 1.44 take one endpoint at create. */
  connectAfter: [string, unknown][];
}

/** `endpointNetworks`: the record's user networks that exist on this engine. */
export function dockerCreateBody(record: ContainerRecord, image: string, endpointNetworks: Set<string>): CreateBody {
  const ext = record.extensions.docker ?? { config: {}, hostConfig: {} };
  const config: Record<string, unknown> = {
    ...ext.config,
    Image: image,
    Entrypoint: record.entrypoint,
    Cmd: record.cmd,
    Env: record.env,
    WorkingDir: record.workingDir,
    User: record.user,
    Labels: record.labels,
    Tty: record.tty,
    OpenStdin: record.openStdin,
  };
  if (record.hostname !== undefined) config.Hostname = record.hostname;
  if (record.domainname !== undefined) config.Domainname = record.domainname;
  if (record.stopSignal !== undefined) config.StopSignal = record.stopSignal;
  if (record.stopTimeout !== undefined) config.StopTimeout = record.stopTimeout;
  const hostConfig: Record<string, unknown> = {
    ...ext.hostConfig,
    RestartPolicy: { Name: record.restart.name === 'no' ? '' : record.restart.name, MaximumRetryCount: record.restart.maximumRetryCount },
    NetworkMode: record.network.mode,
    PortBindings: portBindings(record),
    VolumesFrom: record.volumesFrom,
    Links: record.links,
    Mounts: record.mounts
      .filter((m) => m.type !== 'tmpfs')
      .map((m) =>
        m.type === 'volume'
          ? { Type: 'volume', Source: m.name, Target: m.destination, ReadOnly: m.readOnly }
          : { Type: 'bind', Source: m.type === 'bind' ? m.source : '', Target: m.destination, ReadOnly: m.readOnly },
      ),
    Tmpfs: Object.fromEntries(record.mounts.flatMap((m) => (m.type === 'tmpfs' ? [[m.destination, m.options.join(',')]] : []))),
  };
  if (record.ipcMode !== undefined) hostConfig.IpcMode = record.ipcMode;
  if (record.pidMode !== undefined) hostConfig.PidMode = record.pidMode;
  const endpoints: Record<string, unknown> = {};
  const connectAfter: [string, unknown][] = [];
  for (const [name, e] of Object.entries(record.network.endpoints)) {
    if (!endpointNetworks.has(name)) continue;
    const endpoint = {
      Aliases: e.aliases,
      Links: e.links,
      IPAMConfig: e.ipv4Address || e.ipv6Address ? { IPv4Address: e.ipv4Address, IPv6Address: e.ipv6Address } : null,
    };
    if (name === record.network.mode) endpoints[name] = endpoint;
    else connectAfter.push([name, endpoint]);
  }
  return { body: { ...config, HostConfig: hostConfig, NetworkingConfig: { EndpointsConfig: endpoints } }, connectAfter };
}

function portBindings(record: ContainerRecord): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of record.ports) (out[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: p.hostIp, HostPort: p.hostPort });
  return out;
}
