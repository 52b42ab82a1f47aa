#!/usr/bin/env node
import { hideBin } from 'yargs/helpers';
import { Output } from './output.js';
import { protectDash } from './stdio.js';
import { protectRunCommand } from './run-args.js';
import { progress } from '../util/progress.js';
import { buildCli } from './app.js';

const argvRaw = protectRunCommand(protectDash(hideBin(process.argv)));
const json = argvRaw.includes('--json');
// A bar only where a person watches: never in a log, a pipe or a cron mail.
if (process.stderr.isTTY && !process.env.CI) progress.attach(new (await import('./progress-bar.js')).TerminalProgress());

try {
  await buildCli(argvRaw).parseAsync();
} catch (err) {
  progress.stop();
  process.exitCode = new Output(json).failure(err);
}
progress.stop();
