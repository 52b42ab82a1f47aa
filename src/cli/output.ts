import { TsbakError, errorMessage, isErrno } from '../errors.js';

/**
 * The command contract for output: with --json exactly one JSON document goes
 * to stdout and everything human to stderr; without it, human output goes to
 * stdout and diagnostics to stderr.
 */
/** Set once a JSON document has gone to stdout, so a later failure does not add a second one. */
let jsonWritten = false;

export class Output {
  constructor(readonly json: boolean) {}

  /** Human progress and notes: stderr under --json, else stdout. */
  info(line: string): void {
    (this.json ? process.stderr : process.stdout).write(line + '\n');
  }

  warn(line: string): void {
    process.stderr.write(`tsbak: warning: ${line}\n`);
  }

  /** The command's result: the JSON document, or the human rendering. */
  result(document: unknown, human: () => string): void {
    if (this.json) {
      process.stdout.write(JSON.stringify(document, null, 2) + '\n');
      jsonWritten = true;
    }
    else {
      const text = human();
      if (text) process.stdout.write(text + '\n');
    }
  }

  /** Report a failure and return the exit code. */
  failure(err: unknown): number {
    const code = err instanceof TsbakError ? err.exitCode : 1;
    const message = isErrno(err, 'EPIPE') ? 'the reader of standard output went away before the output was complete' : errorMessage(err);
    process.stderr.write(`tsbak: error: ${message}\n`);
    if (!(err instanceof TsbakError) && process.env.TSBAK_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    if (this.json && !jsonWritten) process.stdout.write(JSON.stringify({ error: { message, exitCode: code } }, null, 2) + '\n');
    return code;
  }
}
