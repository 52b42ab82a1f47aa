/**
 * Container records written before the runtime seam (tsbak 0.1) were Docker
 * create bodies: `{config, hostConfig, networks, volumes}`. They are read by
 * replaying them through the Docker capture as the inspect output they came
 * from, so old snapshots restore into either runtime.
 */
import { captureContainer, type DockerEndpoint } from '../runtime/docker/capture.js';
import type { ContainerRecord } from './model.js';

interface LegacyRecord {
  name: string;
  id: string;
  image: string;
  imageId: string;
  config: Record<string, unknown>;
  hostConfig: Record<string, unknown>;
  networks?: Record<string, DockerEndpoint>;
  volumes?: { name: string; destination: string; readOnly: boolean }[];
  running: boolean;
}

function isLegacy(record: unknown): record is LegacyRecord {
  const r = record as Partial<LegacyRecord>;
  return typeof r === 'object' && r !== null && typeof r.config === 'object' && typeof r.hostConfig === 'object' && !('extensions' in r);
}

/** A record as the current model has it, whichever version wrote it. */
export function upgradeContainerRecord(record: unknown): ContainerRecord {
  if (!isLegacy(record)) return record as ContainerRecord;
  return captureContainer({
    Id: record.id,
    Name: record.name,
    Image: record.imageId,
    State: { Running: record.running, Pid: 0 },
    Config: { ...record.config, Image: record.image },
    HostConfig: record.hostConfig,
    NetworkSettings: { Networks: record.networks ?? {} },
    Mounts: [
      ...(record.volumes ?? []).map((v) => ({ Type: 'volume', Name: v.name, Source: '', Destination: v.destination, RW: !v.readOnly })),
      ...bindMounts(record.hostConfig.Binds),
    ],
  });
}

/** `/host/path:/dest[:ro,…]` entries of HostConfig.Binds (named volumes are in `volumes`). */
function bindMounts(binds: unknown): { Type: string; Source: string; Destination: string; RW: boolean }[] {
  if (!Array.isArray(binds)) return [];
  return binds.flatMap((b) => {
    const [source, destination, opts] = String(b).split(':');
    if (!source?.startsWith('/') || !destination) return [];
    return [{ Type: 'bind', Source: source, Destination: destination, RW: !(opts ?? '').split(',').includes('ro') }];
  });
}
