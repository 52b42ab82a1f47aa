/**
 * A container's definition as the snapshot keeps it: enough of the engine's
 * inspect output to re-create the container on another host. `config` and
 * `hostConfig` are the Engine API's create-body objects, minus host-specific
 * fields (see capture.ts), so they round-trip through POST /containers/create.
 */
export interface ContainerRecord {
  name: string;
  /** The id on the source host (informational). */
  id: string;
  /** The image reference the container was created from (Config.Image). */
  image: string;
  /** The image id (sha256 of its config) on the source host. */
  imageId: string;
  config: Record<string, unknown>;
  hostConfig: Record<string, unknown>;
  /** User-defined networks and their per-endpoint settings (aliases, static IPs). */
  networks: Record<string, { Aliases?: string[] | null; IPAMConfig?: unknown; Links?: string[] | null }>;
  /** Volumes (named) the container mounts, with their mount point. */
  volumes: { name: string; destination: string; readOnly: boolean }[];
  /** Was it running at backup time (restore --start starts those). */
  running: boolean;
}
