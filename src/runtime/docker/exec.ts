import type { EngineClient } from './client.js';
import { EngineError } from '../../errors.js';
import type { ExecResult } from '../runtime.js';


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
    const tail = new OutputTail(OUTPUT_LIMIT);
    const reading = (async () => {
      for await (const chunk of res) tail.feed(chunk as Buffer);
    })();
    await Promise.race([reading, timeout]);
    const inspect = await client.json<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${created.Id}/json`);
    return { exitCode: inspect.ExitCode ?? -1, output: tail.text() };
  } finally {
    clearTimeout(timer);
  }
}

/** Output kept from a hook: its end, where the error usually is. */
const OUTPUT_LIMIT = 64 * 1024;

/**
 * Decodes Docker's multiplexed stdout/stderr framing (8-byte headers) as it
 * streams, keeping only the last `limit` bytes of payload, so a chatty hook
 * (a dump written to stdout) costs no memory.
 */
export class OutputTail {
  private pending = Buffer.alloc(0);
  private frameLeft = 0;
  private kept: Buffer[] = [];
  private keptBytes = 0;

  constructor(private readonly limit: number) {}

  feed(chunk: Buffer): void {
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (data.length > 0) {
      if (this.frameLeft === 0) {
        if (data.length < 8) {
          this.pending = Buffer.from(data);
          return;
        }
        this.frameLeft = data.readUInt32BE(4);
        data = data.subarray(8);
        continue;
      }
      const n = Math.min(this.frameLeft, data.length);
      this.keep(Buffer.from(data.subarray(0, n)));
      this.frameLeft -= n;
      data = data.subarray(n);
    }
  }

  private keep(part: Buffer): void {
    this.kept.push(part);
    this.keptBytes += part.length;
    while (this.keptBytes - (this.kept[0]?.length ?? 0) >= this.limit) this.keptBytes -= (this.kept.shift() as Buffer).length;
  }

  text(): string {
    const all = Buffer.concat(this.kept);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}
