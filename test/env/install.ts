// Makes sure the Debian packages the test environment runs are installed.
import { accessSync, constants, existsSync, rmSync, writeFileSync } from 'node:fs';
import { run } from './util.js';

/** A tool the environment uses, the file that proves it is there, and the package that brings it. */
interface ToolSpec {
  tool: Tool;
  path: string;
  pkg: string;
}

export type Tool =
  | 'dockerd'
  | 'containerd'
  | 'docker'
  | 'registry'
  | 'skopeo'
  | 'umoci'
  | 'zstd'
  | 'busybox'
  | 'podman'
  | 'restic'
  | 'mkfs.xfs'
  | 'gnutar'
  | 'runc';

// The docker CLI is taken from /usr/bin on purpose: /usr/local/bin/docker may be a
// newer client that does not talk to Debian's 20.10 daemon the same way.
export const DOCKER_CLI = '/usr/bin/docker';
export const DOCKERD = '/usr/sbin/dockerd';
export const REGISTRY = '/usr/bin/docker-registry';
export const BUSYBOX = '/bin/busybox';

const TOOLS: ToolSpec[] = [
  { tool: 'dockerd', path: DOCKERD, pkg: 'docker.io' },
  { tool: 'containerd', path: '/usr/bin/containerd', pkg: 'containerd' },
  { tool: 'docker', path: DOCKER_CLI, pkg: 'docker.io' },
  { tool: 'registry', path: REGISTRY, pkg: 'docker-registry' },
  { tool: 'skopeo', path: '/usr/bin/skopeo', pkg: 'skopeo' },
  { tool: 'umoci', path: '/usr/bin/umoci', pkg: 'umoci' },
  { tool: 'zstd', path: '/usr/bin/zstd', pkg: 'zstd' },
  // busybox-static, not busybox: the fixture rootfs has no libc, so it must be static.
  { tool: 'busybox', path: BUSYBOX, pkg: 'busybox-static' },
  { tool: 'podman', path: '/usr/bin/podman', pkg: 'podman' },
  { tool: 'restic', path: '/usr/bin/restic', pkg: 'restic' },
  // The reflink path of the volume tests runs on an XFS loop mount.
  { tool: 'mkfs.xfs', path: '/usr/sbin/mkfs.xfs', pkg: 'xfsprogs' },
  { tool: 'gnutar', path: '/usr/bin/tar', pkg: 'tar' },
  // The oracle of the built-in runtime's tests: the same bundle must run under runc.
  { tool: 'runc', path: '/usr/sbin/runc', pkg: 'runc' },
];

export interface PackageReport {
  /** Tools present after ensurePackages() ran. */
  available: Record<Tool, boolean>;
  /** Debian packages still missing (empty when everything is there). */
  missingPackages: string[];
  /** Why the missing ones could not be installed, when they could not. */
  notice?: string;
}

export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function dpkgInstalled(pkg: string): Promise<boolean> {
  const r = await run('dpkg-query', ['-W', '-f=${Status}', pkg]).catch(() => undefined);
  return r !== undefined && r.code === 0 && r.stdout.includes('install ok installed');
}

async function missingPackages(): Promise<string[]> {
  const missing = new Set<string>();
  for (const t of TOOLS) {
    if (!executable(t.path)) missing.add(t.pkg);
  }
  // /bin/busybox may come from the dynamically linked `busybox` package.
  if (!missing.has('busybox-static') && !(await dpkgInstalled('busybox-static'))) missing.add('busybox-static');
  return [...missing];
}

function report(missing: string[], notice?: string): PackageReport {
  const available = Object.fromEntries(TOOLS.map((t) => [t.tool, !missing.includes(t.pkg)])) as Record<Tool, boolean>;
  return notice === undefined ? { available, missingPackages: missing } : { available, missingPackages: missing, notice };
}

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

/**
 * Runs `fn` with a policy-rc.d that forbids starting services, so that installing
 * docker.io does not start the host's own dockerd (on /var/run/docker.sock).
 */
async function withoutServiceStarts<T>(fn: () => Promise<T>): Promise<T> {
  if (existsSync(POLICY_RC_D)) return fn();
  writeFileSync(POLICY_RC_D, '#!/bin/sh\n# written by tsbak test/env/install.ts while it installs packages\nexit 101\n', { mode: 0o755 });
  try {
    return await fn();
  } finally {
    rmSync(POLICY_RC_D, { force: true });
  }
}

const lastLines = (text: string) => text.trim().split('\n').slice(-3).join(' / ');

async function aptInstall(pkgs: string[]): Promise<string | undefined> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  console.error(`test env: installing Debian packages: ${pkgs.join(' ')}`);
  const update = await run('apt-get', ['update'], { env });
  if (update.code !== 0) return `apt-get update failed: ${lastLines(update.stderr)}`;
  const install = await withoutServiceStarts(() => run('apt-get', ['install', '-y', ...pkgs], { env }));
  if (install.code !== 0) return `apt-get install failed: ${lastLines(install.stderr)}`;
  return undefined;
}

/**
 * Checks the Debian packages the environment needs and installs missing ones
 * when running as root. Never throws: what is still missing is reported.
 */
export async function ensurePackages(): Promise<PackageReport> {
  const missing = await missingPackages();
  if (missing.length === 0) return report([]);
  if (process.getuid?.() !== 0) {
    return report(missing, `missing Debian packages ${missing.join(', ')}; run as root (or apt-get install them) to enable integration tests`);
  }
  const failure = await aptInstall(missing);
  const still = await missingPackages();
  if (still.length === 0) return report([]);
  return report(still, failure ?? `still missing after apt-get install: ${still.join(', ')}`);
}
