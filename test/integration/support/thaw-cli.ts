// `tsbak thaw` for tests while src/cli/main.ts does not register the command yet:
// the same CommandModule, under the same global options.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { thawCommand } from '../../../src/cli/commands/thaw.js';
import { Output } from '../../../src/cli/output.js';
import type { GlobalArgs } from '../../../src/cli/context.js';

const argv = hideBin(process.argv);
try {
  await (yargs(argv)
    .scriptName('tsbak')
    .option('json', { type: 'boolean', global: true, default: false })
    .command(thawCommand)
    .demandCommand(1)
    .strict()
    .fail((message, err) => {
      if (err) throw err;
      process.stderr.write(`tsbak: ${message}\n`);
      process.exit(2);
    })
    .parseAsync() as Promise<GlobalArgs>);
} catch (err) {
  process.exitCode = new Output(argv.includes('--json')).failure(err);
}
