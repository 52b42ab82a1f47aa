/**
 * Where a repository's password comes from: --password-file, TSBAK_PASSWORD_FILE,
 * TSBAK_PASSWORD, else a prompt on a terminal (no echo; asked twice for a new
 * repository). The embedded default repository, created without any of these, gets
 * a random password written to a 0600 file beside it (`repository.password`), read
 * on later runs.
 */
import { existsSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UsageError, errorMessage } from '../errors.js';

export interface PasswordArgs {
  passwordFile?: string | undefined;
}

/** The password file of the embedded default repository at `repoPath`. */
export function defaultPasswordFile(repoPath: string): string {
  return join(dirname(repoPath), 'repository.password');
}

function readPasswordFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the password file ${path} (${what}): ${errorMessage(err)}`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (!password) throw new UsageError(`the password file ${path} (${what}) is empty`);
  return password;
}

/** A password from the flag or the environment, or undefined when none is given. */
export function givenPassword(args: PasswordArgs): string | undefined {
  if (args.passwordFile) return readPasswordFile(args.passwordFile, '--password-file');
  if (process.env.TSBAK_PASSWORD_FILE) return readPasswordFile(process.env.TSBAK_PASSWORD_FILE, 'TSBAK_PASSWORD_FILE');
  if (process.env.TSBAK_PASSWORD) return process.env.TSBAK_PASSWORD;
  return undefined;
}

/**
 * The password source of a command. `create` asks twice on a terminal; `defaultRepo`
 * (the path of the embedded default repository) enables the generated password file.
 */
export function passwordSource(args: PasswordArgs, options: { create?: boolean; defaultRepo?: string; location: string }): () => Promise<string> {
  return async () => {
    const given = givenPassword(args);
    if (given !== undefined) return given;
    if (options.defaultRepo) {
      const file = defaultPasswordFile(options.defaultRepo);
      if (existsSync(file)) return readPasswordFile(file, 'the default repository\'s password');
      if (options.create) {
        const password = randomBytes(24).toString('base64url');
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        writeFileSync(file, password + '\n', { mode: 0o600, flag: 'wx' });
        process.stderr.write(
          `tsbak: created a random password for the default repository in ${file}; keep a copy of it: without it the backups cannot be read\n`,
        );
        return password;
      }
    }
    if (process.stdin.isTTY && process.stderr.isTTY) {
      const password = await prompt(`password for ${options.location}: `);
      if (options.create && (await prompt('enter the password again: ')) !== password) throw new UsageError('the passwords do not match');
      if (!password) throw new UsageError('an empty password is not accepted');
      return password;
    }
    throw new UsageError(
      `the repository at ${options.location} needs a password: set TSBAK_PASSWORD or TSBAK_PASSWORD_FILE, or give --password-file FILE${options.create ? ' (or --insecure-no-password for an unencrypted repository)' : ''}`,
    );
  };
}

/** Read a line from the terminal without echo. */
export async function prompt(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = '';
      const onData = (buf: Buffer) => {
        for (const ch of buf.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            return resolve(line);
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            return reject(new UsageError('interrupted'));
          }
          if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
          else line += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
