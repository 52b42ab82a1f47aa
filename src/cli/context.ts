import type { EngineClient } from '../runtime/docker/client.js';
import type { Repository } from '../repo/repository.js';
import { Output } from './output.js';

// The repository and engine modules (zstd, S3, tar) load only when a command
// needs them: `tsbak --help` and a no-op nightly backup start faster.

/** Options every command takes. */
export interface GlobalArgs {
  repo?: string;
  s3Endpoint?: string;
  /** A file whose first line is the repository password. */
  passwordFile?: string;
  json: boolean;
}

export function outputFor(argv: GlobalArgs): Output {
  return new Output(argv.json);
}

/**
 * Open the repository named by --repo / TSBAK_REPOSITORY, or the embedded
 * default, which is created on first use. A named one must exist (`tsbak init`)
 * unless `create` is set, so a typo never silently starts a new repository.
 */
export async function openRepository(argv: GlobalArgs, options: { createNamed?: boolean; insecureNoPassword?: boolean; init?: boolean } = {}): Promise<Repository> {
  const { openBackend, repositoryLocation } = await import('../repo/locate.js');
  const { Repository } = await import('../repo/repository.js');
  const { passwordSource } = await import('./password.js');
  const location = repositoryLocation(argv.repo);
  const backend = openBackend(location.url, { s3Endpoint: argv.s3Endpoint });
  const create = location.isDefault || options.createNamed === true;
  const access = {
    // A repository being created asks twice on a terminal; the default one gets a generated password file.
    password: passwordSource(argv, { create: create || options.init === true, location: backend.location, ...(location.isDefault ? { defaultRepo: location.url } : {}) }),
    insecureNoPassword: options.insecureNoPassword === true,
  };
  if (options.init) return Repository.init(backend, access);
  return Repository.open(backend, { create, ...access });
}

export async function engineClient(): Promise<EngineClient> {
  const { EngineClient } = await import('../runtime/docker/client.js');
  return new EngineClient();
}
