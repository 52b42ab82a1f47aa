import yargs, { type Argv } from 'yargs';
import { VERSION } from '../version.js';
import { backupCommand } from './commands/backup.js';
import { exportCommand } from './commands/export.js';
import { importCommand } from './commands/import.js';
import { initCommand } from './commands/init.js';
import { showCommand } from './commands/show.js';
import { snapshotsCommand } from './commands/snapshots.js';
import { restoreCommand } from './commands/restore.js';
import { checkCommand } from './commands/check.js';
import { thawCommand } from './commands/thaw.js';
import { runtimeCommand } from './commands/runtime.js';
import { forgetCommand } from './commands/forget.js';
import { keyCommand } from './commands/key.js';
import { scheduleCommand } from './commands/schedule.js';

/** The parser of every command; main.ts runs it on the process's arguments. */
export function buildCli(args: string[]): Argv {
  const cli = yargs(args)
    .scriptName('tsbak')
    .usage('$0 <command> [options]\n\nBack up and restore container images and volumes.')
    .option('repo', {
      type: 'string',
      global: true,
      describe: 'Repository: a directory or s3://BUCKET/PREFIX (default: $TSBAK_REPOSITORY, else the embedded default)',
    })
    .option('s3-endpoint', {
      type: 'string',
      global: true,
      describe: 'S3 endpoint URL for s3:// repositories (default: $AWS_ENDPOINT_URL_S3, else AWS)',
    })
    .option('password-file', {
      type: 'string',
      global: true,
      describe: 'Read the repository password from this file (default: $TSBAK_PASSWORD_FILE, $TSBAK_PASSWORD, else a prompt)',
    })
    .option('host', {
      type: 'string',
      global: true,
      describe: "The host name snapshots are recorded under, and whose last snapshot a backup starts from (default: $TSBAK_HOST, else the machine's)",
    })
    .middleware((argv) => {
      // Carried in the environment so the snapshot code needs no CLI state (src/ops/snapshot-doc.ts: snapshotHost).
      if (typeof argv.host === 'string' && argv.host !== '') process.env.TSBAK_HOST = argv.host;
    })
    .option('json', { type: 'boolean', global: true, default: false, describe: 'One JSON document on stdout; human output on stderr' })
    .command(initCommand)
    .command(backupCommand)
    .command(snapshotsCommand)
    .command(showCommand)
    .command(exportCommand)
    .command(importCommand)
    .command(restoreCommand)
    .command(checkCommand)
    .command(thawCommand)
    .command(runtimeCommand)
    .command(forgetCommand)
    .command(keyCommand)
    .command(scheduleCommand)
    .completion('completion', 'Print a bash/zsh completion script: tsbak completion >> ~/.bashrc')
    .demandCommand(1, 'name a command; see tsbak --help')
    .strict()
    .version(VERSION)
    .help()
    .alias('h', 'help')
    .epilogue('Exit codes: 0 ok, 1 failed, 2 usage, 3 partial, 11 repository locked. See tsbak(1).')
    .fail((message, err) => {
      if (err) throw err;
      process.stderr.write(`tsbak: ${message}\nRun tsbak --help for usage.\n`);
      process.exit(2);
    });
  skipHelpCache(cli);
  return cli;
}

/**
 * yargs renders the whole help text of the command being run as soon as its
 * handler has started (`cacheHelpMessage`, so that a later failure could show
 * it): 60–100 ms of string-width and wrap-ansi on every run, in the middle of
 * the handler's first await. tsbak never prints help on a handler's failure
 * (`fail` above rethrows), so the cache is never read: it is turned off.
 * `--help` and usage errors render as before. Should a later yargs lack
 * these internals, nothing changes but the speed.
 */
function skipHelpCache(cli: Argv): void {
  const internals = (cli as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } }).getInternalMethods?.();
  const usage = internals?.getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}
