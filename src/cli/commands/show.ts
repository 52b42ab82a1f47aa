import type { Argv, CommandModule } from 'yargs';
import { openRepository, outputFor, type GlobalArgs } from '../context.js';
import { formatBytes } from '../../util/format.js';
import { volumeMounts } from '../../container/model.js';
import type { SnapshotSource } from '../../repo/snapshot.js';

interface ShowArgs extends GlobalArgs {
  snap: string;
}

export const showCommand: CommandModule<GlobalArgs, ShowArgs> = {
  command: 'show <snap>',
  describe: 'Show what a snapshot holds (SNAP: id, unique id prefix, or "latest")',
  builder: (y: Argv<GlobalArgs>) => y.positional('snap', { type: 'string', demandOption: true }) as Argv<ShowArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const repo = await openRepository(argv);
    const { id, snapshot } = await repo.resolveSnapshot(argv.snap);
    out.result({ id, ...snapshot }, () => {
      const lines = [
        `snapshot ${id}`,
        `  time     ${snapshot.time}`,
        `  host     ${snapshot.hostname}${snapshot.username ? ` (${snapshot.username})` : ''}`,
        `  source   ${snapshot.source.kind} ${sourceLocation(snapshot.source)}`,
        `  tags     ${snapshot.tags.join(', ') || '-'}`,
        `  images   ${snapshot.images.length}`,
      ];
      for (const img of snapshot.images) {
        const size = img.layers.reduce((n, l) => n + l.size, 0);
        lines.push(`    ${img.names.join(', ') || '<untagged>'}  ${img.config.slice(7, 19)}  ${img.layers.length} layers  ${formatBytes(size)}`);
      }
      lines.push(`  containers ${snapshot.containers.length}`);
      for (const c of snapshot.containers) {
        const mounts = volumeMounts(c).map((v) => `${v.name}:${v.destination}${v.readOnly ? ':ro' : ''}`).join(' ');
        lines.push(`    ${c.name}  ${c.image}${c.running ? '  (running)' : ''}${mounts ? `  volumes ${mounts}` : ''}`);
      }
      lines.push(`  volumes  ${snapshot.volumes.length}`);
      for (const v of snapshot.volumes) {
        const held = v.quiesce.map((q) => `${q.container} ${q.mode}${q.windowMs !== undefined ? ` ${q.windowMs} ms` : ''}`).join(', ');
        lines.push(`    ${v.name}  ${v.stats.files} files  ${formatBytes(v.stats.bytes)}  ${v.method}${held ? `  (${held})` : ''}`);
      }
      return lines.join('\n');
    });
  },
};

function sourceLocation(source: SnapshotSource): string {
  switch (source.kind) {
    case 'engine':
    case 'registry':
      return source.host;
    case 'runtime':
      return source.root;
    case 'archive':
      return source.path;
  }
}
