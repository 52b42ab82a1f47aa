import type { Argv, CommandModule } from 'yargs';
import { outputFor, type GlobalArgs } from '../../context.js';
import { builtinRuntime } from './open.js';

interface ExecArgs extends GlobalArgs {
  container: string;
  command: string;
  timeout: number;
}

export const runtimeExecCommand: CommandModule<GlobalArgs, ExecArgs> = {
  command: 'exec <container> <command>',
  describe: "Run `sh -c COMMAND` inside a running container (its namespaces, cgroups, user and environment)",
  builder: (y: Argv<GlobalArgs>) =>
    y
      .positional('container', { type: 'string', demandOption: true })
      .positional('command', { type: 'string', demandOption: true, describe: 'a shell command line' })
      .option('timeout', { type: 'number', default: 60, describe: 'Seconds before the command is killed' }) as Argv<ExecArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const runtime = await builtinRuntime();
    const result = await runtime.containers.exec(argv.container, argv.command, argv.timeout * 1000);
    out.result(result, () => result.output.replace(/\n$/, ''));
    if (result.exitCode !== 0) process.exitCode = result.exitCode;
  },
};
