import type { Argv, CommandModule } from 'yargs';
import { openRepository, outputFor, type GlobalArgs } from '../context.js';

interface InitArgs extends GlobalArgs {
  insecureNoPassword: boolean;
}

export const initCommand: CommandModule<GlobalArgs, InitArgs> = {
  command: 'init',
  describe: 'Create a new repository (encrypted with a password unless --insecure-no-password)',
  builder: (y: Argv<GlobalArgs>) =>
    y.option('insecure-no-password', {
      type: 'boolean',
      default: false,
      describe: 'Create an unencrypted repository: anyone who can read the storage can read the backups',
    }) as unknown as Argv<InitArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const repo = await openRepository(argv, { init: true, insecureNoPassword: argv.insecureNoPassword });
    out.result(
      { repository: repo.location, id: repo.config.id, version: repo.config.version, encrypted: repo.encrypted, ...(repo.keyName ? { key: repo.keyName } : {}) },
      () => `created ${repo.encrypted ? 'encrypted' : 'UNENCRYPTED'} tsbak repository ${repo.config.id.slice(0, 8)} at ${repo.location}`,
    );
  },
};
