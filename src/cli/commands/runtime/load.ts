import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { outputFor, type GlobalArgs } from '../../context.js';
import { STDIO } from '../../stdio.js';
import { NotFoundError, UsageError } from '../../../errors.js';
import { formatBytes, formatDuration } from '../../../util/format.js';
import type { RuntimeLoadResult } from '../../../ops/runtime-images.js';
import { registryCredentials, type RegistryArgs } from '../../registry-options.js';
import { builtinRuntime } from './open.js';

function render(result: RuntimeLoadResult): string {
  return [
    ...result.images.map((i) => `  ${(i.names[0] ?? i.id.slice(7, 19)).padEnd(40)} ${i.layers} layers  ${formatBytes(i.size)}`),
    `${result.images.length} image(s) in ${formatDuration(result.durationMs)}`,
  ].join('\n');
}

interface LoadArgs extends GlobalArgs {
  file: string;
}

export const runtimeLoadCommand: CommandModule<GlobalArgs, LoadArgs> = {
  command: 'load <file>',
  describe: 'Take a docker save or OCI archive (plain, gzip or zstd; - for stdin) into the runtime',
  builder: (y: Argv<GlobalArgs>) => y.positional('file', { type: 'string', demandOption: true }) as Argv<LoadArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    if (argv.file === STDIO && process.stdin.isTTY) throw new UsageError('standard input is a terminal; pipe an archive in or name a file');
    if (argv.file !== STDIO) await access(argv.file).catch(() => Promise.reject(new NotFoundError(`archive ${argv.file} does not exist or is not readable`)));
    const runtime = await builtinRuntime();
    const { loadArchiveIntoRuntime } = await import('../../../ops/runtime-images.js');
    const source = argv.file === STDIO ? process.stdin : createReadStream(argv.file, { highWaterMark: 1 << 20 });
    const result = await loadArchiveIntoRuntime(runtime, source, argv.file === STDIO ? 'standard input' : argv.file);
    out.result(result, () => render(result));
  },
};

interface PullArgs extends GlobalArgs, Omit<RegistryArgs, 'compression'> {
  ref: string;
}

export const runtimePullCommand: CommandModule<GlobalArgs, PullArgs> = {
  command: 'pull <ref>',
  describe: 'Pull an image from a registry (registry://HOST/REPO[:TAG|@DIGEST]) into the runtime',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .positional('ref', { type: 'string', demandOption: true })
      .option('registry-user', { type: 'string', describe: 'Registry user name (else ~/.docker/config.json)' })
      .option('registry-password-stdin', { type: 'boolean', default: false, describe: 'Read the registry password from standard input' })
      .option('insecure-registry', { type: 'boolean', default: false, describe: 'Plain HTTP to a registry that is not on loopback' }) as unknown as Argv<PullArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const credentials = await registryCredentials({ ...argv, compression: 'gzip' });
    const runtime = await builtinRuntime();
    const { pullIntoRuntime } = await import('../../../ops/runtime-images.js');
    const result = await pullIntoRuntime(runtime, argv.ref, { insecure: argv.insecureRegistry, log: (l) => out.info(l), ...(credentials ? { credentials } : {}) });
    out.result(result, () => render(result));
  },
};
