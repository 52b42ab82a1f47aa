/**
 * `tsbak runtime run`: a container definition from command-line flags,
 * created and started in tsbak's runtime; in the foreground its output is
 * relayed until it exits, and its exit code is returned.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { ContainerRecord, MountSpec, RestartPolicy } from '../container/model.js';
import { UsageError } from '../errors.js';
import { readContainerState, readLogs, signalContainer } from '../runtime/launcher.js';
import type { BuiltinRuntime } from '../runtime/builtin/runtime.js';

export interface RunSpec {
  image: string;
  command: string[];
  name?: string;
  entrypoint?: string;
  env: string[];
  volumes: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  labels: string[];
  network: 'none' | 'host';
  restart: string;
  stopSignal?: string;
  stopTimeout?: number;
}

/** `NAME:/path[:ro|rw]` (a volume) or `/host/path:/path[:ro|rw]` (a bind mount). */
export function parseVolumeFlag(flag: string): MountSpec {
  const parts = flag.split(':');
  const [source, destination, mode] = parts;
  if (parts.length < 2 || parts.length > 3 || !source || !destination?.startsWith('/') || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw new UsageError(`-v takes VOLUME:/PATH[:ro] or /HOST/PATH:/PATH[:ro], not "${flag}"`);
  }
  const readOnly = mode === 'ro';
  return source.startsWith('/') ? { type: 'bind', source: path.resolve(source), destination, readOnly } : { type: 'volume', name: source, destination, readOnly };
}

export function parseRestart(value: string): RestartPolicy {
  const [name, count] = value.split(':');
  if (name !== 'no' && name !== 'always' && name !== 'unless-stopped' && name !== 'on-failure') {
    throw new UsageError(`--restart takes no, always, unless-stopped or on-failure[:N], not "${value}"`);
  }
  return { name, maximumRetryCount: count ? Number(count) : 0 };
}

function parseLabels(labels: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new UsageError(`--label takes KEY=VALUE, not "${l}"`);
    out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

export function recordFromRunSpec(spec: RunSpec, imageId: string): ContainerRecord {
  for (const e of spec.env) if (!/^[^=]+=/.test(e)) throw new UsageError(`-e takes KEY=VALUE, not "${e}"`);
  const record: ContainerRecord = {
    name: spec.name ?? `tsbak-${randomBytes(3).toString('hex')}`,
    id: '',
    image: spec.image,
    imageId,
    entrypoint: spec.entrypoint !== undefined ? (spec.entrypoint === '' ? [] : [spec.entrypoint]) : null,
    cmd: spec.command.length > 0 ? spec.command : null,
    env: spec.env,
    workingDir: spec.workdir ?? '',
    user: spec.user ?? '',
    labels: parseLabels(spec.labels),
    tty: false,
    openStdin: false,
    restart: parseRestart(spec.restart),
    network: { mode: spec.network, endpoints: {} },
    mounts: spec.volumes.map(parseVolumeFlag),
    ports: [],
    volumesFrom: [],
    links: [],
    running: false,
    extensions: {},
  };
  if (spec.hostname !== undefined) record.hostname = spec.hostname;
  if (spec.stopSignal !== undefined) record.stopSignal = spec.stopSignal;
  if (spec.stopTimeout !== undefined) record.stopTimeout = spec.stopTimeout;
  return record;
}

export interface RunResult {
  id: string;
  name: string;
  note?: string;
  /** Foreground runs: the container's exit code (128+signal when killed). */
  exitCode?: number;
}

/**
 * Create and start; with `detach` return at once. Otherwise relay the log
 * (stdout to `out`, stderr to `err`) until the container exits; SIGINT and
 * SIGTERM are passed on to it. With `remove`, a foreground container is
 * removed after it exits, a detached one by the next `runtime` command after it exits.
 */
export async function runContainer(
  runtime: BuiltinRuntime,
  spec: RunSpec,
  options: { detach: boolean; remove: boolean; out: NodeJS.WritableStream; err: NodeJS.WritableStream },
): Promise<RunResult> {
  const image = await runtime.images.inspect(spec.image);
  const record = recordFromRunSpec(spec, image.id);
  const created = await runtime.containers.create(record, spec.image, { autoRemove: options.remove });
  const base: RunResult = { id: created.id, name: record.name, ...(created.note ? { note: created.note } : {}) };
  try {
    await runtime.containers.start(created.id);
  } catch (err) {
    await runtime.containers.remove(created.id, { force: true }).catch(() => undefined);
    throw err;
  }
  if (options.detach) return base;
  const dir = runtime.root.container(created.id);
  const forward = (sig: NodeJS.Signals) => void signalContainer(dir, sig).catch(() => undefined);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    for await (const entry of readLogs(dir, { follow: true })) (entry.stream === 'stderr' ? options.err : options.out).write(entry.log);
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
  const state = await readContainerState(dir);
  if (options.remove) await runtime.containers.remove(created.id, { force: true });
  return { ...base, exitCode: state.exitCode ?? 255 };
}
