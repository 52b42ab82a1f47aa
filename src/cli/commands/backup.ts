import type { Argv, CommandModule } from 'yargs';
import { openRepository, outputFor, type GlobalArgs } from '../context.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import { PartialFailureError } from '../../errors.js';
import type { BackupJobResult } from '../../ops/job.js';
import { registryCredentials, withRegistryOptions, type RegistryArgs } from '../registry-options.js';

interface BackupArgs extends GlobalArgs, RegistryArgs {
  all: boolean;
  image: string[];
  container: string[];
  volume: string[];
  label: string[];
  tag: string[];
  time?: string;
  quiesce: 'freeze' | 'stop' | 'none';
  freezeTogether: boolean;
  maxFreeze: number;
  freezeFallback: 'fail' | 'stop' | 'none';
  hookTimeout: number;
  cgroup: 'auto' | 'v1' | 'v2';
  reflink: 'auto' | 'never';
  engine: 'docker' | 'runtime';
}

export const backupCommand: CommandModule<GlobalArgs, BackupArgs> = {
  command: 'backup',
  describe: 'Back up images, containers and volumes of the Docker engine (or tsbak\'s runtime) into the repository',
  builder: (y: Argv<GlobalArgs>) =>
    withRegistryOptions(y)
      .option('engine', {
        choices: ['docker', 'runtime'] as const,
        default: 'docker' as const,
        describe: 'Where the containers run: the Docker engine ($DOCKER_HOST) or tsbak\'s built-in runtime',
      })
      .option('all', { type: 'boolean', default: false, describe: 'Every tagged image, container and volume of the engine' })
      .option('image', { type: 'string', array: true, default: [] as string[], describe: 'An image by name or id, or registry://HOST/REPO[:TAG|@DIGEST] (repeatable)' })
      .option('container', { type: 'string', array: true, default: [] as string[], describe: 'A container by name or id: its definition and image (repeatable)' })
      .option('volume', { type: 'string', array: true, default: [] as string[], describe: 'A volume by name (repeatable)' })
      .option('label', { type: 'string', array: true, default: [] as string[], describe: 'The containers with label K=V: definitions, images, volumes (repeatable: all must match)' })
      .option('quiesce', {
        choices: ['freeze', 'stop', 'none'] as const,
        default: 'freeze' as const,
        describe: 'How containers using a volume are held still while it is copied (label tsbak.quiesce overrides per container)',
      })
      .option('freeze-together', { type: 'boolean', default: false, describe: 'Freeze all containers of the run at once (consistency across volumes)' })
      .option('max-freeze', { type: 'number', default: 10000, describe: 'Thaw after this many ms and fail the volume' })
      .option('freeze-fallback', {
        choices: ['fail', 'stop', 'none'] as const,
        default: 'fail' as const,
        describe: 'When a container cannot be frozen: fail the volume, stop the container instead, or copy without quiescing',
      })
      .option('hook-timeout', { type: 'number', default: 60, describe: 'Seconds a tsbak.pre-backup / tsbak.post-backup hook may run' })
      .option('cgroup', { choices: ['auto', 'v1', 'v2'] as const, default: 'auto' as const, describe: 'Freezer interface: v2 cgroup.freeze, v1 freezer.state' })
      .option('reflink', { choices: ['auto', 'never'] as const, default: 'auto' as const, describe: 'Clone volumes under the freeze where the filesystem has reflinks' })
      .option('tag', { type: 'string', array: true, default: [] as string[], describe: 'A tag to put on the snapshot (repeatable)' })
      .option('time', { type: 'string', describe: 'The snapshot\'s time instead of now: ISO 8601 (2026-01-31T02:30:00Z) or local "2026-01-31 02:30:00" (as restic)' })
      .example('$0 backup --all', 'snapshot every tagged image')
      .example('$0 backup --image app:1 --tag nightly', 'snapshot one image, tagged') as unknown as Argv<BackupArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const { runBackupJob, validateBackupJob } = await import('../../ops/job.js');
    const { parseSnapshotTime } = await import('../../ops/snapshot-doc.js');
    const time = argv.time === undefined ? undefined : parseSnapshotTime(argv.time);
    const spec = {
      engine: argv.engine,
      all: argv.all,
      images: argv.image,
      containers: argv.container,
      volumes: argv.volume,
      labels: argv.label,
      tags: argv.tag,
      ...(time ? { time } : {}),
      volumeOptions: {
        quiesce: argv.quiesce,
        freezeTogether: argv.freezeTogether,
        maxFreezeMs: argv.maxFreeze,
        freezeFallback: argv.freezeFallback,
        hookTimeoutMs: argv.hookTimeout * 1000,
        cgroupVersion: argv.cgroup,
        reflink: argv.reflink,
      },
    };
    validateBackupJob(spec);
    const credentials = argv.image.some((i) => i.startsWith('registry://')) ? await registryCredentials(argv) : undefined;
    const repo = await openRepository(argv);
    const job = await runBackupJob(repo, { ...spec, registry: { insecure: argv.insecureRegistry, ...(credentials ? { credentials } : {}) } }, { log: (line) => out.info(line) });
    out.result({ repository: repo.location, ...job.result }, () => render(job));
    if (job.outcome === 'partial') {
      throw new PartialFailureError(
        `backup was partial: snapshot ${job.result.snapshotId.slice(0, 8)} lacks ${job.failures.map((f) => `${f.item} (${f.error})`).join('; ')}`,
        job.failures,
      );
    }
  },
};

function render(job: BackupJobResult): string {
  if (job.source === 'registry') {
    const result = job.result;
    return [
      ...result.images.map((i) => `  image      ${i.source.padEnd(40)} ${i.error ? `FAILED: ${i.error}` : `${i.layers} layers  ${formatBytes(i.size)}`}`),
      `snapshot ${result.snapshotId.slice(0, 8)} saved: ${result.newBlobs} new blob(s), ${formatBytes(result.newBytes)} added, ` +
        `${formatBytes(result.downloadedBytes)} downloaded in ${formatDuration(result.durationMs)}`,
    ].join('\n');
  }
  const result = job.result;
  return [
    ...result.images.map((i) => `  image      ${(i.names[0] ?? i.id.slice(7, 19)).padEnd(40)} ${i.layers} layers  ${formatBytes(i.size)}`),
    ...result.containers.map((c) => `  container  ${c.name.padEnd(40)} ${c.image}${c.running ? ' (running)' : ''}`),
    ...result.volumes.map(
      (v) =>
        `  volume     ${v.name.padEnd(40)} ${v.files} files  ${formatBytes(v.bytes)}` +
        v.quiesce.map((q) => `  ${q.container}: ${q.mode}${q.windowMs !== undefined ? ` ${q.windowMs} ms` : ''}`).join(''),
    ),
    ...result.failures.map((f) => `  FAILED     ${f.item}: ${f.error}`),
    `snapshot ${result.snapshotId.slice(0, 8)} saved: ${result.images.length} image(s), ${result.containers.length} container(s), ${result.volumes.length} volume(s), ` +
      `${formatBytes(result.newBytes)} added in ${formatDuration(result.durationMs)}`,
  ].join('\n');
}
