import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { STDIO } from '../stdio.js';
import { openRepository, outputFor, type GlobalArgs } from '../context.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import { NotFoundError, UsageError } from '../../errors.js';

interface ImportArgs extends GlobalArgs {
  file: string;
  tag: string[];
}

export const importCommand: CommandModule<GlobalArgs, ImportArgs> = {
  command: 'import <file>',
  describe: 'Take a docker save or OCI archive (plain, gzip or zstd) into the repository',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'archive file, or - for standard input' })
      .option('tag', { type: 'string', array: true, default: [] as string[], describe: 'A tag to put on the snapshot (repeatable)' }) as Argv<ImportArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    if (argv.file === STDIO && process.stdin.isTTY) throw new UsageError('standard input is a terminal; pipe an archive in or name a file');
    if (argv.file !== STDIO) await access(argv.file).catch(() => Promise.reject(new NotFoundError(`archive ${argv.file} does not exist or is not readable`)));
    const repo = await openRepository(argv);
    const source = argv.file === STDIO ? process.stdin : createReadStream(argv.file, { highWaterMark: 1 << 20 });
    const { importArchive } = await import('../../ops/image-import.js');
    const result = await importArchive(repo, source, argv.file === STDIO ? '-' : argv.file, argv.tag);
    out.result({ repository: repo.location, ...result }, () =>
      [
        ...result.images.map((i) => `  ${(i.names[0] ?? i.id.slice(7, 19)).padEnd(40)} ${i.layers} layers`),
        `snapshot ${result.snapshotId.slice(0, 8)} saved: ${result.images.length} image(s), ${result.newBlobs} new blob(s), ${formatBytes(result.newBytes)} added in ${formatDuration(result.durationMs)}`,
      ].join('\n'),
    );
  },
};
