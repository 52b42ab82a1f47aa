/**
 * The subset of the OCI runtime-spec 1.0.2 config.json that tsbak's bundle
 * generator writes and native/tsbak-runtime reads (runc runs it too).
 * Field names are the spec's.
 */
export const OCI_VERSION = '1.0.2';

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  linux: OciLinux;
}

export interface OciProcess {
  /** Always false: the built-in runtime has no TTY support (stdin is /dev/null, output goes to the log). */
  terminal: false;
  user: { uid: number; gid: number; additionalGids: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  rlimits: OciRlimit[];
  noNewPrivileges: boolean;
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

export interface OciRlimit {
  type: string;
  soft: number;
  hard: number;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export type OciNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'cgroup';

export interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  /** Absent: any. */
  major?: number;
  minor?: number;
  access: string;
}

export interface OciLinux {
  namespaces: { type: OciNamespaceType }[];
  maskedPaths: string[];
  readonlyPaths: string[];
  cgroupsPath: string;
  resources: {
    devices: OciDeviceRule[];
    pids?: { limit: number };
    memory?: { limit: number };
  };
}
