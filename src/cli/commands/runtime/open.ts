import type { BuiltinRuntime } from '../../../runtime/builtin/runtime.js';

/** The runtime's module loads only when a runtime command runs; exited `run --rm` containers are removed first. */
export async function builtinRuntime(): Promise<BuiltinRuntime> {
  const { BuiltinRuntime } = await import('../../../runtime/builtin/runtime.js');
  const runtime = BuiltinRuntime.open();
  await runtime.containers.reap();
  return runtime;
}
