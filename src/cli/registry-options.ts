import type { Argv } from 'yargs';
import type { RegistryCredentials } from '../image/registry/auth.js';
import type { LayerCompression } from '../image/registry/push.js';
import { readAll } from '../util/streams.js';
import { UsageError } from '../errors.js';

export interface RegistryArgs {
  registryUser?: string;
  registryPasswordStdin: boolean;
  insecureRegistry: boolean;
  compression: LayerCompression;
}

/** The options every command that talks to a registry takes. */
export function withRegistryOptions<T>(y: Argv<T>): Argv<T & RegistryArgs> {
  return y
    .option('registry-user', { type: 'string', describe: 'Registry user name (else ~/.docker/config.json)' })
    .option('registry-password-stdin', { type: 'boolean', default: false, describe: 'Read the registry password from standard input' })
    .option('insecure-registry', { type: 'boolean', default: false, describe: 'Plain HTTP to a registry that is not on loopback' })
    .option('compression', { choices: ['gzip', 'zstd'] as const, default: 'gzip' as const, describe: 'Layer compression for pushes' }) as unknown as Argv<
    T & RegistryArgs
  >;
}

/** `--registry-user` with the password from stdin, or nothing (the Docker config is used then). */
export async function registryCredentials(argv: RegistryArgs): Promise<RegistryCredentials | undefined> {
  if (!argv.registryUser && !argv.registryPasswordStdin) return undefined;
  if (!argv.registryUser || !argv.registryPasswordStdin) throw new UsageError('--registry-user and --registry-password-stdin go together');
  if (process.stdin.isTTY) throw new UsageError('--registry-password-stdin: pipe the password in, e.g. `cat pw | tsbak …`');
  const password = (await readAll(process.stdin, 64 * 1024, 'the registry password')).toString('utf8').replace(/\r?\n$/, '');
  if (!password) throw new UsageError('--registry-password-stdin: standard input was empty');
  return { username: argv.registryUser, password };
}
