import type { Argv, CommandModule } from 'yargs';
import { STDIO } from '../stdio.js';
import { openRepository, outputFor, type GlobalArgs } from '../context.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import { UsageError } from '../../errors.js';

interface ExportArgs extends GlobalArgs {
  snap: string;
  images: string[];
  output: string;
}

export const exportCommand: CommandModule<GlobalArgs, ExportArgs> = {
  command: 'export <snap> [images..]',
  describe: 'Write images of a snapshot as a docker save (and OCI) archive',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .positional('snap', { type: 'string', demandOption: true, describe: 'id, unique id prefix, or "latest"' })
      .positional('images', { type: 'string', array: true, default: [] as string[], describe: 'images to include (default: all)' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'archive file, or - for standard output' })
      .example('$0 export latest app:1 -o app.tar', 'then: docker load -i app.tar') as Argv<ExportArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    if (argv.output === STDIO && process.stdout.isTTY) throw new UsageError('refusing to write an archive to a terminal; redirect it or use -o FILE');
    if (argv.output === STDIO && argv.json) throw new UsageError('--json and -o - both want standard output; write the archive to a file');
    const repo = await openRepository(argv);
    const stored = await repo.resolveSnapshot(argv.snap);
    const { exportSnapshotImages } = await import('../../ops/image-export.js');
    const result = await exportSnapshotImages(repo, stored, argv.images ?? [], argv.output === STDIO ? process.stdout : argv.output);
    if (argv.output === STDIO) {
      process.stderr.write(`exported ${result.images.length} image(s), ${formatBytes(result.bytes)}\n`);
      return;
    }
    out.result(result, () => `exported ${result.images.length} image(s) from snapshot ${stored.id.slice(0, 8)} to ${result.output}: ${formatBytes(result.bytes)} in ${formatDuration(result.durationMs)}`);
  },
};
