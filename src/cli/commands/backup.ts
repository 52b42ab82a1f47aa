import type { Argv, CommandModule } from 'yargs';
import { backup } from '../../ops/backup.js';
import { engineClient, openRepository, outputFor, type GlobalArgs } from '../context.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import { UsageError } from '../../errors.js';

interface BackupArgs extends GlobalArgs {
  all: boolean;
  image: string[];
  container: string[];
  tag: string[];
}

export const backupCommand: CommandModule<GlobalArgs, BackupArgs> = {
  command: 'backup',
  describe: 'Back up images from the Docker engine into the repository',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .option('all', { type: 'boolean', default: false, describe: 'Every tagged image and every container of the engine' })
      .option('image', { type: 'string', array: true, default: [] as string[], describe: 'An image by name or id (repeatable)' })
      .option('container', { type: 'string', array: true, default: [] as string[], describe: 'A container by name or id: its definition and image (repeatable)' })
      .option('tag', { type: 'string', array: true, default: [] as string[], describe: 'A tag to put on the snapshot (repeatable)' })
      .example('$0 backup --all', 'snapshot every tagged image')
      .example('$0 backup --image app:1 --tag nightly', 'snapshot one image, tagged') as Argv<BackupArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    if (!argv.all && argv.image.length === 0 && argv.container.length === 0) {
      throw new UsageError('say what to back up: --all, --image REF or --container NAME');
    }
    const repo = await openRepository(argv);
    const result = await backup(repo, engineClient(), {
      all: argv.all,
      images: argv.image,
      containers: argv.container,
      tags: argv.tag,
      log: (line) => out.info(line),
    });
    out.result({ repository: repo.location, ...result }, () =>
      [
        ...result.images.map((i) => `  image      ${(i.names[0] ?? i.id.slice(7, 19)).padEnd(40)} ${i.layers} layers  ${formatBytes(i.size)}`),
        ...result.containers.map((c) => `  container  ${c.name.padEnd(40)} ${c.image}${c.running ? ' (running)' : ''}`),
        `snapshot ${result.snapshotId.slice(0, 8)} saved: ${result.images.length} image(s), ${result.containers.length} container(s), ${result.newBlobs} new blob(s), ` +
          `${formatBytes(result.newBytes)} added in ${formatDuration(result.durationMs)}`,
      ].join('\n'),
    );
  },
};
