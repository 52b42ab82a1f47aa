import type { Argv, CommandModule } from 'yargs';
import { outputFor, type GlobalArgs } from '../../context.js';
import { table } from '../../../util/format.js';
import { builtinRuntime } from './open.js';

export const runtimeVolumesCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'volumes',
  describe: "List the runtime's volumes and the containers that mount them",
  builder: (y: Argv<GlobalArgs>) => y,
  handler: async (argv) => {
    const out = outputFor(argv);
    const runtime = await builtinRuntime();
    const volumes = await runtime.volumes.list();
    const containers = await runtime.containers.all();
    const rows = volumes.map((v) => ({
      ...v,
      containers: containers.filter((c) => c.record.mounts.some((m) => m.type === 'volume' && m.name === v.name)).map((c) => c.name),
    }));
    out.result(rows, () =>
      rows.length === 0 ? `no volumes in ${runtime.location}` : table(['Name', 'Mountpoint', 'Used by'], rows.map((r) => [r.name, r.mountpoint, r.containers.join(', ') || '-'])),
    );
  },
};
