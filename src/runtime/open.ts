import type { ContainerRuntime, RuntimeKind } from './runtime.js';

/**
 * The runtime of a kind, loaded on demand: Docker (DOCKER_HOST, else
 * /var/run/docker.sock) or tsbak's own (TSBAK_RUNTIME_ROOT, else
 * /var/lib/tsbak/runtime).
 */
export async function openRuntime(kind: RuntimeKind): Promise<ContainerRuntime> {
  if (kind === 'docker') {
    const { DockerRuntime } = await import('./docker/adapter.js');
    return new DockerRuntime();
  }
  const { BuiltinRuntime } = await import('./builtin/runtime.js');
  return BuiltinRuntime.open();
}
