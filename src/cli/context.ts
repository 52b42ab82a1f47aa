import { EngineClient } from '../image/engine/client.js';
import { openBackend, repositoryLocation } from '../repo/locate.js';
import { Repository } from '../repo/repository.js';
import { Output } from './output.js';

/** Options every command takes. */
export interface GlobalArgs {
  repo?: string;
  s3Endpoint?: string;
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
export async function openRepository(argv: GlobalArgs, options: { createNamed?: boolean } = {}): Promise<Repository> {
  const location = repositoryLocation(argv.repo);
  return Repository.open(openBackend(location.url, { s3Endpoint: argv.s3Endpoint }), { create: location.isDefault || options.createNamed === true });
}

export function engineClient(): EngineClient {
  return new EngineClient();
}
