import type { Argv, CommandModule } from 'yargs';
import { openRepository, outputFor, type GlobalArgs } from '../context.js';
import { formatBytes } from '../../util/format.js';
import { CorruptDataError } from '../../errors.js';

interface CheckArgs extends GlobalArgs {
  readData: boolean;
  readDataSubset?: string;
}

export const checkCommand: CommandModule<GlobalArgs, CheckArgs> = {
  command: 'check',
  describe: 'Check the repository: structure always, data with --read-data',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .option('read-data', { type: 'boolean', default: false, describe: 'Read every blob and verify its digest' })
      .option('read-data-subset', { type: 'string', describe: 'Read and verify this share of blobs, e.g. 10%' }) as unknown as Argv<CheckArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const { checkRepository, readDataShare } = await import('../../repo/check.js');
    const share = argv.readData ? 1 : readDataShare(argv.readDataSubset);
    const repo = await openRepository(argv);
    const { reachableBlobs } = await import('../../ops/reachable.js');
    const report = await checkRepository(repo, { readData: share, reachable: reachableBlobs });
    out.result({ repository: repo.location, ...report }, () =>
      [
        ...report.errors.map((e) => `error: ${e}`),
        `checked ${report.snapshots} snapshot(s), ${report.blobs} blob(s) in ${report.objectsChecked} object(s)` +
          (share > 0 ? `, read ${report.blobsRead} blob(s) (${formatBytes(report.bytesRead)})` : '') +
          `: ${report.errors.length === 0 ? 'no errors' : `${report.errors.length} error(s)`}`,
      ].join('\n'),
    );
    if (report.errors.length > 0) throw new CorruptDataError(`the repository at ${repo.location} has ${report.errors.length} error(s)`);
  },
};
