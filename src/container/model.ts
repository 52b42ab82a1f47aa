/**
 * A container's definition as a snapshot keeps it, in terms no single runtime
 * owns: what to run (image, entrypoint, cmd, env, user, working dir), how it is
 * named and labelled, its mounts, network mode, restart policy and stop
 * behaviour. Docker's inspect output is translated into it (runtime/docker),
 * and the built-in runtime reads and writes it natively, so a snapshot taken
 * from one restores into the other.
 *
 * What only one runtime understands travels in `extensions`, keyed by runtime,
 * so a Docker → Docker round trip loses nothing (resource limits, devices,
 * log drivers…); another runtime ignores it.
 */
export interface ContainerRecord {
  name: string;
  /** The id on the source host (informational). */
  id: string;
  /** The image reference the container was created from. */
  image: string;
  /** The image id (sha256 of its config) on the source host. */
  imageId: string;
  /** As the container runs it: the source runtime has already merged the image's defaults in. null: the image's. */
  entrypoint: string[] | null;
  cmd: string[] | null;
  /** KEY=VALUE, image defaults included. */
  env: string[];
  /** '' means the image's (or /). */
  workingDir: string;
  /** name, uid, uid:gid, name:group; '' means the image's (or root). */
  user: string;
  /** The user chose it; absent means the runtime picks one (the short id). */
  hostname?: string;
  domainname?: string;
  labels: Record<string, string>;
  tty: boolean;
  openStdin: boolean;
  /** Signal name (SIGTERM) or number; absent means the image's, else SIGTERM. */
  stopSignal?: string;
  /** Seconds between the stop signal and SIGKILL; absent means the runtime's default (10). */
  stopTimeout?: number;
  restart: RestartPolicy;
  network: NetworkSpec;
  mounts: MountSpec[];
  /** Published ports (informational for runtimes without port forwarding). */
  ports: PortSpec[];
  /** Containers whose volumes this one mounts (`--volumes-from NAME[:ro|rw]`). */
  volumesFrom: string[];
  /** Legacy links, `NAME:ALIAS`. */
  links: string[];
  /** `container:NAME`, `host`, `private`, `shareable`…; absent means the runtime's default. */
  ipcMode?: string;
  pidMode?: string;
  /** Was it running at backup time (restore --start starts those). */
  running: boolean;
  extensions: { docker?: DockerExtension };
}

export interface RestartPolicy {
  name: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  maximumRetryCount: number;
}

/**
 * `mode`: none, host, bridge, default, container:NAME, or a user network's
 * name. `endpoints`: user-defined networks and their per-endpoint settings.
 */
export interface NetworkSpec {
  mode: string;
  endpoints: Record<string, EndpointSpec>;
}

export interface EndpointSpec {
  aliases: string[];
  links: string[];
  ipv4Address?: string;
  ipv6Address?: string;
}

export type MountSpec =
  | { type: 'volume'; name: string; destination: string; readOnly: boolean }
  | { type: 'bind'; source: string; destination: string; readOnly: boolean }
  | { type: 'tmpfs'; destination: string; options: string[] };

export interface PortSpec {
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIp: string;
  hostPort: string;
}

/** The Docker create-body fields the neutral model does not cover, as Docker wrote them. */
export interface DockerExtension {
  config: Record<string, unknown>;
  hostConfig: Record<string, unknown>;
}

/** The named volumes a definition mounts. */
export function volumeMounts(record: ContainerRecord): Extract<MountSpec, { type: 'volume' }>[] {
  return record.mounts.filter((m): m is Extract<MountSpec, { type: 'volume' }> => m.type === 'volume');
}
