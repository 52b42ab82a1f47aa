// Runs the compiled tsbak CLI (dist/src/cli/main.js) as a user would: a new Node process per command.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../test/env/util.js';
import { measure, type Measurement } from './measure.js';

// dist/bench/lib/tsbak.js → dist/src/cli/main.js
export const TSBAK_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

export class Tsbak {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly scratch: string,
    private readonly enginePid?: number,
  ) {}

  /** The argv that runs `tsbak args…`. */
  argv(args: string[], nodeOptions: string[] = []): string[] {
    return [process.execPath, ...nodeOptions, TSBAK_MAIN, ...args];
  }

  /** Runs a command untimed (setup); rejects with its stderr when it fails. */
  async ok(args: string[]): Promise<string> {
    const [cmd, ...rest] = this.argv(args);
    const r = await run(cmd!, rest, { env: this.env, timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`tsbak ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Runs a command under GNU time; `stdoutFile` keeps its standard output (e.g. the `--json` document). */
  measure(args: string[], extra: { stdoutFile?: string } = {}): Promise<Measurement> {
    const opts = { env: this.env, scratch: this.scratch, ...(this.enginePid ? { enginePid: this.enginePid } : {}), ...extra };
    return measure(this.argv(args), opts);
  }

  /** Runs a command once under `node --cpu-prof`; resolves the path of the profile it wrote. */
  async profile(args: string[], dir: string, name: string): Promise<string> {
    await fsp.mkdir(dir, { recursive: true });
    const file = `${name}.cpuprofile`;
    const [cmd, ...rest] = this.argv(args, ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${file}`]);
    const r = await run(cmd!, rest, { env: this.env, timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`tsbak ${args.join(' ')} (profiled) exited ${r.code}: ${r.stderr.trim()}`);
    return path.join(dir, file);
  }
}
