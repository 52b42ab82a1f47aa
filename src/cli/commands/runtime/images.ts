import type { Argv, CommandModule } from 'yargs';
import { outputFor, type GlobalArgs } from '../../context.js';
import { formatBytes, table } from '../../../util/format.js';
import { builtinRuntime } from './open.js';

export const runtimeImagesCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'images',
  describe: "List the runtime's images",
  builder: (y: Argv<GlobalArgs>) => y,
  handler: async (argv) => {
    const out = outputFor(argv);
    const runtime = await builtinRuntime();
    const images = await runtime.images.list();
    out.result(images, () =>
      images.length === 0
        ? `no images in ${runtime.location}`
        : table(
            ['Name', 'ID', 'Layers', 'Size'],
            images.map((i) => [i.names.join(', ') || '<none>', i.id.slice(7, 19), String(i.layers.length), formatBytes(i.size ?? 0)]),
          ),
    );
  },
};
