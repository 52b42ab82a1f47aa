import type { Argv, CommandModule } from 'yargs';
import { openRepository, outputFor, type GlobalArgs } from '../context.js';
import { table } from '../../util/format.js';

interface SnapshotsArgs extends GlobalArgs {
  tag: string[];
}

export const snapshotsCommand: CommandModule<GlobalArgs, SnapshotsArgs> = {
  command: 'snapshots',
  describe: 'List snapshots, oldest first',
  builder: (y: Argv<GlobalArgs>) =>
    y.option('tag', { type: 'string', array: true, default: [] as string[], describe: 'Only snapshots with this tag' }) as Argv<SnapshotsArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const repo = await openRepository(argv);
    const all = (await repo.snapshots()).filter((s) => argv.tag.every((t) => s.snapshot.tags.includes(t)));
    out.result(
      all.map((s) => ({
        id: s.id,
        time: s.snapshot.time,
        hostname: s.snapshot.hostname,
        tags: s.snapshot.tags,
        images: s.snapshot.images.map((i) => i.names[0] ?? i.config),
        volumes: s.snapshot.volumes.length,
        containers: s.snapshot.containers.length,
      })),
      () =>
        all.length === 0
          ? `no snapshots in ${repo.location}`
          : table(
              ['ID', 'Time', 'Host', 'Tags', 'Images'],
              all.map((s) => [
                s.id.slice(0, 8),
                s.snapshot.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
                s.snapshot.hostname,
                s.snapshot.tags.join(','),
                String(s.snapshot.images.length),
              ]),
            ) + `\n${all.length} snapshot(s)`,
    );
  },
};
