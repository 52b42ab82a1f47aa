import type { Argv, CommandModule } from 'yargs';
import { outputFor, type GlobalArgs } from '../../context.js';
import { builtinRuntime } from './open.js';

interface LogsArgs extends GlobalArgs {
  container: string;
  follow: boolean;
  timestamps: boolean;
}

export const runtimeLogsCommand: CommandModule<GlobalArgs, LogsArgs> = {
  command: 'logs <container>',
  describe: "A container's output (stdout to stdout, stderr to stderr)",
  builder: (y: Argv<GlobalArgs>) =>
    y
      .positional('container', { type: 'string', demandOption: true })
      .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing until the container exits' })
      .option('timestamps', { alias: 't', type: 'boolean', default: false, describe: 'Prefix each line with its time' }) as Argv<LogsArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const runtime = await builtinRuntime();
    const c = await runtime.containers.inspect(argv.container);
    const { readLogs } = await import('../../../runtime/launcher.js');
    const entries = [];
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    for await (const e of readLogs(runtime.root.container(c.id), { follow: argv.follow, signal: abort.signal })) {
      if (argv.json) entries.push(e);
      else (e.stream === 'stderr' ? process.stderr : process.stdout).write(argv.timestamps ? `${e.time} ${e.log}` : e.log);
    }
    if (argv.json) out.result(entries, () => '');
  },
};
