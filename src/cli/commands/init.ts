import type { CommandModule } from 'yargs';
import { outputFor, type GlobalArgs } from '../context.js';

export const initCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'init',
  describe: 'Create a new repository',
  handler: async (argv) => {
    const out = outputFor(argv);
    const { openBackend, repositoryLocation } = await import('../../repo/locate.js');
    const { Repository } = await import('../../repo/repository.js');
    const repo = await Repository.init(openBackend(repositoryLocation(argv.repo).url, { s3Endpoint: argv.s3Endpoint }));
    out.result({ repository: repo.location, id: repo.config.id, version: repo.config.version }, () => `created tsbak repository ${repo.config.id.slice(0, 8)} at ${repo.location}`);
  },
};
