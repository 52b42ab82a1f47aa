import type { Argv, CommandModule } from 'yargs';
import { outputFor, type GlobalArgs } from '../../context.js';
import { UsageError } from '../../../errors.js';
import { builtinRuntime } from './open.js';

interface RunArgs extends GlobalArgs {
  /** `runtime run` + what followed the `--` main.ts put after the image. */
  _: (string | number)[];
  image: string;
  command: string[];
  detach: boolean;
  rm: boolean;
  name?: string;
  volume: string[];
  env: string[];
  entrypoint?: string;
  workdir?: string;
  user?: string;
  hostname?: string;
  label: string[];
  network: 'none' | 'host';
  restart: string;
  stopSignal?: string;
  stopTimeout?: number;
}

export const runtimeRunCommand: CommandModule<GlobalArgs, RunArgs> = {
  command: 'run <image> [command..]',
  describe: 'Create and start a container from an image of the runtime',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .positional('image', { type: 'string', demandOption: true, describe: 'image name or id' })
      .positional('command', { type: 'string', array: true, default: [] as string[], describe: "command and arguments (default: the image's)" })
      .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'Start it and return; it keeps running without tsbak' })
      .option('rm', { type: 'boolean', default: false, describe: 'Remove the container once it has exited' })
      .option('name', { type: 'string', describe: 'Container name (default: tsbak-XXXXXX)' })
      .option('volume', { alias: 'v', type: 'string', array: true, nargs: 1, default: [] as string[], describe: 'VOLUME:/PATH[:ro] or /HOST/PATH:/PATH[:ro] (repeatable)' })
      .option('env', { alias: 'e', type: 'string', array: true, nargs: 1, default: [] as string[], describe: 'KEY=VALUE (repeatable)' })
      .option('entrypoint', { type: 'string', describe: "Replace the image's entrypoint ('' clears it)" })
      .option('workdir', { alias: 'w', type: 'string', describe: 'Working directory inside the container' })
      .option('user', { alias: 'u', type: 'string', describe: 'name, uid, uid:gid or name:group from the image' })
      .option('hostname', { type: 'string', describe: 'Host name (default: the short id)' })
      .option('label', { alias: 'l', type: 'string', array: true, nargs: 1, default: [] as string[], describe: 'KEY=VALUE label (repeatable)' })
      .option('network', { choices: ['none', 'host'] as const, default: 'none' as const, describe: "none: own network namespace with only lo; host: the host's" })
      .option('restart', { type: 'string', default: 'no', describe: 'no | always | unless-stopped | on-failure[:N] (applied by tsbak runtime up)' })
      .option('stop-signal', { type: 'string', describe: "Signal that stops it (default: the image's, else SIGTERM)" })
      .option('stop-timeout', { type: 'number', describe: 'Seconds from the stop signal to SIGKILL (default 10)' })
      .example('$0 runtime run -d --name web -v data:/srv app:1', 'a detached container with a volume')
      .example('$0 runtime run --rm app:1 cat /hello.txt', 'run once, print, remove') as unknown as Argv<RunArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    if (argv.detach && argv.json === false && argv.rm) out.warn('--rm with -d: the container is removed by the next tsbak runtime command after it exits');
    if (argv.stopTimeout !== undefined && !(argv.stopTimeout >= 0)) throw new UsageError('--stop-timeout takes a number of seconds ≥ 0');
    const runtime = await builtinRuntime();
    const { runContainer } = await import('../../../ops/runtime-run.js');
    const result = await runContainer(
      runtime,
      {
        image: argv.image,
        command: [...argv.command, ...argv._.slice(2)].map(String),
        env: argv.env,
        volumes: argv.volume,
        labels: argv.label,
        network: argv.network,
        restart: argv.restart,
        ...(argv.name !== undefined ? { name: argv.name } : {}),
        ...(argv.entrypoint !== undefined ? { entrypoint: argv.entrypoint } : {}),
        ...(argv.workdir !== undefined ? { workdir: argv.workdir } : {}),
        ...(argv.user !== undefined ? { user: argv.user } : {}),
        ...(argv.hostname !== undefined ? { hostname: argv.hostname } : {}),
        ...(argv.stopSignal !== undefined ? { stopSignal: argv.stopSignal } : {}),
        ...(argv.stopTimeout !== undefined ? { stopTimeout: argv.stopTimeout } : {}),
      },
      // Under --json the container's stdout goes to stderr, so stdout holds one document.
      { detach: argv.detach, remove: argv.rm, out: argv.json ? process.stderr : process.stdout, err: process.stderr },
    );
    if (result.note) out.warn(result.note);
    if (argv.detach || argv.json) out.result(result, () => result.id);
    if (result.exitCode !== undefined && result.exitCode !== 0) process.exitCode = result.exitCode;
  },
};
