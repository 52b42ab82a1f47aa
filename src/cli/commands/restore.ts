import type { Argv, CommandModule } from 'yargs';
import { openRepository, outputFor, type GlobalArgs } from '../context.js';
import type { RestoreItem } from '../../ops/restore/report.js';
import { registryCredentials, withRegistryOptions, type RegistryArgs } from '../registry-options.js';

interface RestoreCliArgs extends GlobalArgs, RegistryArgs {
  snap: string;
  to: string;
  image: string[];
  volume: string[];
  container: string[];
  overwrite: boolean;
  start: boolean;
  dryRun: boolean;
}

const SYMBOL: Record<RestoreItem['status'], string> = { done: 'ok  ', skipped: 'skip', failed: 'FAIL', planned: 'plan' };

export const restoreCommand: CommandModule<GlobalArgs, RestoreCliArgs> = {
  command: 'restore <snap>',
  describe: 'Restore a snapshot into Docker, a registry or an archive',
  builder: (y: Argv<GlobalArgs>) =>
    withRegistryOptions(y)
      .positional('snap', { type: 'string', demandOption: true, describe: 'id, unique id prefix, or "latest"' })
      .option('to', { type: 'string', default: 'docker', describe: 'docker | registry://HOST/NAMESPACE | archive:PATH' })
      .option('image', { type: 'string', array: true, default: [] as string[], describe: 'Only this image (repeatable)' })
      .option('volume', { type: 'string', array: true, default: [] as string[], describe: 'Only this volume, NAME or NAME:NEWNAME (repeatable)' })
      .option('container', { type: 'string', array: true, default: [] as string[], describe: 'Only this container, with its image (repeatable)' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'Replace existing tags, volumes, containers, files' })
      .option('start', { type: 'boolean', default: false, describe: 'Start the containers that were running at backup time' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Print the plan; change nothing' })
      .example('$0 restore latest --start', 'put back images, volumes and containers, and start them')
      .example('$0 restore latest --to archive:all.tar', 'the snapshot as a docker save archive') as unknown as Argv<RestoreCliArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const { parseRestoreTarget, restoreSnapshot } = await import('../../ops/restore/restore.js');
    const { restoreOutcome } = await import('../../ops/restore/report.js');
    const { registryPusher } = await import('../../ops/restore/registry.js');
    const target = parseRestoreTarget(argv.to);
    const repo = await openRepository(argv);
    const stored = await repo.resolveSnapshot(argv.snap);
    const report = await restoreSnapshot(
      repo,
      stored,
      target,
      { images: argv.image, volumes: argv.volume, containers: argv.container, overwrite: argv.overwrite, start: argv.start, dryRun: argv.dryRun },
      {
        onItem: (i) => out.info(`${SYMBOL[i.status]} ${i.kind.padEnd(9)} ${i.name}  ${i.action}${i.detail ? `: ${i.detail}` : ''}`),
        pushToRegistry:
          target.kind === 'registry'
            ? registryPusher({
                compression: argv.compression,
                insecure: argv.insecureRegistry,
                log: (line) => out.info(line),
                ...(await registryCredentials(argv).then((c) => (c ? { credentials: c } : {}))),
              })
            : undefined,
      },
    );
    const failure = restoreOutcome(report);
    if (argv.json) out.result(failure ? { ...report, error: { message: failure.message, exitCode: failure.exitCode } } : report, () => '');
    else out.info(`${argv.dryRun ? 'plan for' : 'restored'} snapshot ${stored.id.slice(0, 8)} into ${report.target}: ${report.items.length} item(s)`);
    if (failure) throw failure;
  },
};
