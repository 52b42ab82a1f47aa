import type { Argv, CommandModule } from 'yargs';
import { engineClient, outputFor, type GlobalArgs } from '../context.js';
import { TsbakError, UsageError } from '../../errors.js';
import type { ThawReport } from '../../freeze/recover.js';
import { table } from '../../util/format.js';

interface ThawArgs extends GlobalArgs {
  container?: string;
  all: boolean;
  engine: 'docker' | 'runtime';
}

export const thawCommand: CommandModule<GlobalArgs, ThawArgs> = {
  command: 'thaw [container]',
  describe: 'Thaw containers a crashed tsbak left frozen (recovery)',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .positional('container', { type: 'string', describe: 'A container name or id, resolved through the engine (or --engine runtime)' })
      .option('engine', { choices: ['docker', 'runtime'] as const, default: 'docker' as const, describe: "Where CONTAINER runs: the Docker engine or tsbak's runtime" })
      .option('all', {
        type: 'boolean',
        default: false,
        describe: "Also thaw every frozen container cgroup found in the cgroup trees (except the engine's paused containers)",
      })
      .epilogue(
        'Without arguments, thaws what tsbak recorded as frozen by processes that are gone. ' +
          'A freeze whose tsbak is still running and within its time limit is left to it.',
      ) as unknown as Argv<ThawArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    if (argv.all && argv.container) throw new UsageError('give either --all or a CONTAINER, not both');
    const { thawAll, thawContainer } = await import('../../freeze/recover.js');
    const report: ThawReport = argv.container
      ? await thawContainer(argv.container, await (await import('../../runtime/open.js')).openRuntime(argv.engine))
      : await thawAll({ scan: argv.all, engine: argv.all ? await engineClient() : undefined });
    for (const note of report.notes) out.warn(note);
    const thawed = report.entries.filter((e) => e.result === 'thawed');
    const failure =
      report.errors.length > 0 ? new TsbakError(`${report.errors.join('; ')}; check the container and its cgroup, then run tsbak thaw again`) : undefined;
    if (argv.json && failure) {
      // One JSON document: the report with the error in it.
      out.result({ ...report, error: { message: failure.message, exitCode: failure.exitCode } }, () => '');
      process.stderr.write(`tsbak: error: ${failure.message}\n`);
      process.exitCode = failure.exitCode;
      return;
    }
    out.result(report, () => {
      if (report.entries.length === 0) return argv.container ? `container \`${argv.container}\` was not frozen` : 'nothing was frozen';
      const rows = report.entries.map((e) => [e.name ?? e.id?.slice(0, 12) ?? '-', e.version, e.result, e.source, e.note ?? e.dir]);
      return `${table(['Container', 'Freezer', 'Result', 'Found in', 'Note'], rows)}\n${thawed.length} thawed`;
    });
    if (failure) throw failure;
  },
};
