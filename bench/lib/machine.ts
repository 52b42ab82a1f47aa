// What the figures were measured on.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { run } from '../../test/env/util.js';
import { DOCKER_CLI } from '../../test/env/install.js';

export interface MachineInfo {
  date: string;
  nproc: number;
  cpu: string;
  memoryMiB: number;
  kernel: string;
  os: string;
  /** Filesystem, device and size of the disk the engine and the repositories are on. */
  disk: string;
  node: string;
  engine: string;
  zstd: string;
  /** 1-minute load average when the run started: other work on the machine skews figures. */
  loadAverage: number;
}

async function firstLine(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(cmd, args, env ? { env } : {}).catch(() => undefined);
  return r && r.code === 0 ? (r.stdout.trim().split('\n')[0] ?? '') : 'unknown';
}

function osRelease(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The device behind `dir`, whether it is rotational, and its filesystem and size. */
async function diskOf(dir: string): Promise<string> {
  const df = await firstLine('sh', ['-c', `df -hT ${dir} | tail -1`]);
  const [device, fstype, size] = df.split(/\s+/);
  let kind = '';
  const dev = device?.startsWith('/dev/') ? device.slice(5).replace(/\d+$/, '') : undefined;
  if (dev) {
    try {
      // As the kernel reports it: a virtio disk says 1 whatever the medium behind it.
      kind = `, queue/rotational=${readFileSync(`/sys/block/${dev}/queue/rotational`, 'utf8').trim()}`;
    } catch {
      // a partition, mapper or loop device: leave it out
    }
  }
  return `${device ?? '?'} (${fstype ?? '?'}, ${size ?? '?'}${kind})`;
}

export async function machineInfo(workDir: string, env: NodeJS.ProcessEnv): Promise<MachineInfo> {
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryMiB: Math.round(os.totalmem() / 2 ** 20),
    kernel: os.release(),
    os: osRelease(),
    disk: await diskOf(workDir),
    node: process.version,
    engine: `docker ${await firstLine(DOCKER_CLI, ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})'], env)}`,
    zstd: (await firstLine('zstd', ['--version'])).replace(/^\*+\s*|\s*\*+$/g, ''),
    loadAverage: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}
