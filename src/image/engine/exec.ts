import type { EngineClient } from './client.js';
import { EngineError } from '../../errors.js';
import { readAll } from '../../util/streams.js';

export interface ExecResult {
  exitCode: number;
  /** The command's combined output (multiplexed stream decoded), truncated to 64 KiB. */
  output: string;
}

/**
 * Run a command in a running container through the engine's exec API
 * (`sh -c CMD`), wait for it with a timeout, and return its exit code and output.
 */
export async function execInContainer(client: EngineClient, container: string, command: string, timeoutMs: number): Promise<ExecResult> {
  const created = await client.json<{ Id: string }>('POST', `/containers/${encodeURIComponent(container)}/exec`, {
    body: Buffer.from(JSON.stringify({ Cmd: ['sh', '-c', command], AttachStdout: true, AttachStderr: true })),
    headers: { 'Content-Type': 'application/json' },
  });
  const res = await client.request('POST', `/exec/${created.Id}/start`, {
    body: Buffer.from(JSON.stringify({ Detach: false, Tty: false })),
    headers: { 'Content-Type': 'application/json' },
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      res.destroy();
      reject(new EngineError(`command \`${command}\` in container ${container} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    const raw = await Promise.race([readAll(res, 64 << 20, 'exec output'), timeout]);
    const inspect = await client.json<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${created.Id}/json`);
    return { exitCode: inspect.ExitCode ?? -1, output: demultiplex(raw).slice(0, 64 * 1024) };
  } finally {
    clearTimeout(timer);
  }
}

/** Decode Docker's multiplexed stdout/stderr framing (8-byte headers) into text. */
export function demultiplex(raw: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const size = raw.readUInt32BE(offset + 4);
    parts.push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
