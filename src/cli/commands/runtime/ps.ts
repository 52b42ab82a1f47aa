import type { Argv, CommandModule } from 'yargs';
import { outputFor, type GlobalArgs } from '../../context.js';
import { table } from '../../../util/format.js';
import { builtinRuntime } from './open.js';

interface PsArgs extends GlobalArgs {
  all: boolean;
}

export const runtimePsCommand: CommandModule<GlobalArgs, PsArgs> = {
  command: 'ps',
  describe: "List the runtime's running containers (-a: all)",
  builder: (y: Argv<GlobalArgs>) => y.option('all', { alias: 'a', type: 'boolean', default: false, describe: 'Also created and exited containers' }) as Argv<PsArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    // Loaded here, not at the top: the runtime's modules (unpacker, bundles, koffi) stay out of every other command's start.
    const { describeState } = await import('../../../runtime/builtin/containers.js');
    const runtime = await builtinRuntime();
    const containers = (await runtime.containers.all()).filter((c) => argv.all || c.running);
    out.result(
      containers.map((c) => ({
        id: c.id,
        name: c.name,
        image: c.record.image,
        imageId: c.file.imageId,
        status: c.state.status === 'dead' && !c.state.started ? 'created' : c.state.status,
        pid: c.running ? c.pid : undefined,
        exitCode: c.state.exitCode,
        signal: c.state.signal ?? undefined,
        created: c.file.created,
        started: c.state.started,
        finished: c.state.finished,
        restart: c.record.restart.name,
        network: c.file.network,
        mounts: c.record.mounts,
      })),
      () =>
        containers.length === 0
          ? `no ${argv.all ? '' : 'running '}containers in ${runtime.location}`
          : table(
              ['ID', 'Name', 'Image', 'Status', 'Created'],
              containers.map((c) => [c.id.slice(0, 12), c.name, c.record.image, describeState(c), c.file.created.replace('T', ' ').replace(/\.\d+Z$/, 'Z')]),
            ),
    );
  },
};
