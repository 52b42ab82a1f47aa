import type { Argv, CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';
import { runtimeImagesCommand } from './runtime/images.js';
import { runtimePsCommand } from './runtime/ps.js';
import { runtimeRunCommand } from './runtime/run.js';
import { runtimeLogsCommand } from './runtime/logs.js';
import { runtimeStartCommand, runtimeStopCommand, runtimeRmCommand, runtimeUpCommand } from './runtime/lifecycle.js';
import { runtimeVolumesCommand } from './runtime/volumes.js';
import { runtimeExecCommand } from './runtime/exec.js';
import { runtimeLoadCommand, runtimePullCommand } from './runtime/load.js';

export const runtimeCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'runtime <command>',
  describe: "tsbak's built-in container runtime: images, ps, run, logs, exec, stop, rm, up, volumes, load, pull",
  builder: (y: Argv<GlobalArgs>) =>
    y
      .command(runtimeImagesCommand)
      .command(runtimePsCommand)
      .command(runtimeRunCommand)
      .command(runtimeLogsCommand)
      .command(runtimeExecCommand)
      .command(runtimeStartCommand)
      .command(runtimeStopCommand)
      .command(runtimeRmCommand)
      .command(runtimeUpCommand)
      .command(runtimeVolumesCommand)
      .command(runtimeLoadCommand)
      .command(runtimePullCommand)
      .demandCommand(1, 'name a runtime command; see tsbak runtime --help')
      .epilogue('State lives in $TSBAK_RUNTIME_ROOT, else /var/lib/tsbak/runtime. See tsbak-runtime(1).'),
  handler: () => undefined,
};
