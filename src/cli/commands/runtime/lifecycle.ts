import type { Argv, CommandModule } from 'yargs';
import { outputFor, type GlobalArgs } from '../../context.js';
import { PartialFailureError, errorMessage } from '../../../errors.js';
import { builtinRuntime } from './open.js';

interface RefsArgs extends GlobalArgs {
  containers: string[];
}

/** Applies `act` to each named container; some failing is exit 3, all failing exit 1. */
async function each(argv: RefsArgs, verb: string, act: (ref: string) => Promise<void>): Promise<void> {
  const out = outputFor(argv);
  const done: string[] = [];
  const failures: { item: string; error: string }[] = [];
  for (const ref of argv.containers) {
    try {
      await act(ref);
      done.push(ref);
    } catch (err) {
      if (argv.containers.length === 1) throw err;
      failures.push({ item: ref, error: errorMessage(err) });
    }
  }
  out.result({ [verb]: done, failures }, () => [...done, ...failures.map((f) => `FAILED ${f.item}: ${f.error}`)].join('\n'));
  if (failures.length > 0) throw new PartialFailureError(`${failures.length} of ${argv.containers.length} container(s) failed`, failures);
}

const refs = (y: Argv<GlobalArgs>) => y.positional('containers', { type: 'string', array: true, demandOption: true, describe: 'names or ids' });

export const runtimeStartCommand: CommandModule<GlobalArgs, RefsArgs> = {
  command: 'start <containers..>',
  describe: 'Start created or exited containers',
  builder: (y: Argv<GlobalArgs>) => refs(y) as unknown as Argv<RefsArgs>,
  handler: async (argv) => {
    const runtime = await builtinRuntime();
    await each(argv, 'started', (ref) => runtime.containers.start(ref));
  },
};

interface StopArgs extends RefsArgs {
  time?: number;
}

export const runtimeStopCommand: CommandModule<GlobalArgs, StopArgs> = {
  command: 'stop <containers..>',
  describe: 'Stop containers: their stop signal, then SIGKILL after the timeout',
  builder: (y: Argv<GlobalArgs>) =>
    refs(y).option('time', { alias: 't', type: 'number', describe: "Seconds before SIGKILL (default: the container's, else 10)" }) as unknown as Argv<StopArgs>,
  handler: async (argv) => {
    const runtime = await builtinRuntime();
    await each(argv, 'stopped', (ref) => runtime.containers.stop(ref, argv.time));
  },
};

interface RmArgs extends RefsArgs {
  force: boolean;
}

export const runtimeRmCommand: CommandModule<GlobalArgs, RmArgs> = {
  command: 'rm <containers..>',
  describe: 'Remove containers (--force: also running ones, killed first)',
  builder: (y: Argv<GlobalArgs>) => refs(y).option('force', { alias: 'f', type: 'boolean', default: false, describe: 'Kill a running container first' }) as unknown as Argv<RmArgs>,
  handler: async (argv) => {
    const runtime = await builtinRuntime();
    await each(argv, 'removed', (ref) => runtime.containers.remove(ref, { force: argv.force }));
  },
};

export const runtimeUpCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'up',
  describe: 'Start what the restart policies say should run (always, unless-stopped, on-failure): run it at boot',
  builder: (y: Argv<GlobalArgs>) => y,
  handler: async (argv) => {
    const out = outputFor(argv);
    const runtime = await builtinRuntime();
    const failures: { item: string; error: string }[] = [];
    const started = await runtime.containers.up((name, err) => failures.push({ item: name, error: errorMessage(err) }));
    out.result({ started, failures }, () => [...started.map((s) => `started ${s}`), ...failures.map((f) => `FAILED ${f.item}: ${f.error}`)].join('\n') || 'nothing to start');
    if (failures.length > 0) throw new PartialFailureError(`${failures.length} container(s) could not be started`, failures);
  },
};
