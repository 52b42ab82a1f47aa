import type { ContainerRuntime, RuntimeKind } from './runtime.js';
import { UsageError } from '../errors.js';

/** The runtime of a kind, loaded on demand: Docker (DOCKER_HOST, else /var/run/docker.sock). */
export async function openRuntime(kind: RuntimeKind): Promise<ContainerRuntime> {
  if (kind === 'docker') {
    const { DockerRuntime } = await import('./docker/adapter.js');
    return new DockerRuntime();
  }
  throw new UsageError('the built-in runtime is not part of this build yet');
}
