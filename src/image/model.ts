import type { Digest } from '../util/digest.js';

/** One layer of an image, addressed by its uncompressed digest (the config's diff_id). */
export interface LayerRecord {
  diffID: Digest;
  /** Uncompressed size in bytes. */
  size: number;
}

/**
 * An image as the repository keeps it: names, the config blob, and layers
 * by diffID. Everything else (manifests, archive layouts) is derived from this
 * at export, so the same record serves docker save, OCI and registry pushes.
 */
export interface ImageRecord {
  /** Familiar names, e.g. `tsbak-fixture/app:1`, `localhost:5000/x:y`. */
  names: string[];
  /** Registry digests the source knew, e.g. `app@sha256:…` (informational). */
  repoDigests: string[];
  /** sha256 of the config JSON: Docker's image ID. */
  config: Digest;
  configSize: number;
  layers: LayerRecord[];
  os?: string;
  architecture?: string;
  /**
   * How a registry distributed the image, when it came from one: the original
   * manifest (stored as a blob of kind `manifest`) and its compressed layers
   * (each stored under its own digest), so a re-push sends the same bytes and
   * keeps the manifest digest. `layers[i]` is the compressed form of `layers[i]` above.
   */
  distribution?: DistributionRecord;
}

/** The registry form of an image: original manifest digest and compressed layer descriptors. */
export interface DistributionRecord {
  manifest: Digest;
  mediaType: string;
  layers: { digest: Digest; mediaType: string; size: number }[];
}

/** The subset of an OCI/Docker image config that tsbak reads. */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  rootfs?: { type?: string; diff_ids?: string[] };
  /** What a container of the image runs by default (OCI image-spec `config`). */
  config?: ImageRunConfig;
}

/** The OCI image config's execution parameters (Docker writes the same names). */
export interface ImageRunConfig {
  User?: string;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, unknown> | null;
  Volumes?: Record<string, unknown> | null;
}

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}
