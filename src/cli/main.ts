#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Output } from './output.js';
import { protectDash } from './stdio.js';
import { protectRunCommand } from './run-args.js';
import { progress } from '../util/progress.js';
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
import { scheduleCommand } from './commands/schedule.js';
import type { GlobalArgs } from './context.js';

const argvRaw = protectRunCommand(protectDash(hideBin(process.argv)));
const json = argvRaw.includes('--json');
// A bar only where a person watches: never in a log, a pipe or a cron mail.
if (process.stderr.isTTY && !process.env.CI) progress.attach(new (await import('./progress-bar.js')).TerminalProgress());

try {
  await yargs(argvRaw)
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
    })
    .parseAsync() as GlobalArgs;
} catch (err) {
  progress.stop();
  process.exitCode = new Output(json).failure(err);
}
progress.stop();
