import type { Argv, CommandModule } from 'yargs';
import { openRepository, outputFor, type GlobalArgs } from '../context.js';

interface KeyArgs extends GlobalArgs {
  newPasswordFile?: string;
  id?: string;
}

/** The new password of `key add` / `key passwd`: --new-password-file, TSBAK_NEW_PASSWORD_FILE, TSBAK_NEW_PASSWORD, else a prompt asked twice. */
async function newPassword(argv: KeyArgs): Promise<string> {
  const { givenPassword, passwordSource } = await import('../password.js');
  const fromFile = argv.newPasswordFile ?? process.env.TSBAK_NEW_PASSWORD_FILE;
  if (fromFile) return givenPassword({ passwordFile: fromFile }) as string;
  if (process.env.TSBAK_NEW_PASSWORD) return process.env.TSBAK_NEW_PASSWORD;
  const saved = { file: process.env.TSBAK_PASSWORD_FILE, pass: process.env.TSBAK_PASSWORD };
  // Only the terminal may give the new password now (never the current one's sources).
  delete process.env.TSBAK_PASSWORD_FILE;
  delete process.env.TSBAK_PASSWORD;
  try {
    return await passwordSource({}, { create: true, location: 'the new key' })();
  } catch {
    const { UsageError } = await import('../../errors.js');
    throw new UsageError('give the new password with --new-password-file FILE, TSBAK_NEW_PASSWORD_FILE or TSBAK_NEW_PASSWORD (or run on a terminal)');
  } finally {
    if (saved.file !== undefined) process.env.TSBAK_PASSWORD_FILE = saved.file;
    if (saved.pass !== undefined) process.env.TSBAK_PASSWORD = saved.pass;
  }
}

const newPasswordOption = {
  'new-password-file': { type: 'string', describe: 'Read the new password from this file (default: $TSBAK_NEW_PASSWORD_FILE, $TSBAK_NEW_PASSWORD, else a prompt)' },
} as const;

const keyListCommand: CommandModule<GlobalArgs, KeyArgs> = {
  command: 'list',
  describe: 'List the key files (one per password); * marks the one in use',
  handler: async (argv) => {
    const out = outputFor(argv);
    const repo = await openRepository(argv);
    const { keyInfos } = await import('../../repo/keys.js');
    const keys = repo.encrypted ? await keyInfos(repo.objects) : [];
    const rows = keys.map((k) => ({ ...k, current: k.name === repo.keyName }));
    out.result({ keys: rows }, () =>
      rows.length === 0
        ? `the repository at ${repo.location} is not encrypted: it has no keys`
        : rows.map((k) => `${k.current ? '*' : ' '} ${k.name.slice(0, 12)}  ${k.created}  ${k.username}@${k.hostname}`).join('\n'),
    );
  },
};

const keyAddCommand: CommandModule<GlobalArgs, KeyArgs> = {
  command: 'add',
  describe: 'Add a key file for another password',
  builder: (y: Argv<GlobalArgs>) => y.options(newPasswordOption) as unknown as Argv<KeyArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const repo = await openRepository(argv);
    const name = await repo.addKey(await newPassword(argv));
    out.result({ added: name }, () => `added key ${name.slice(0, 12)}`);
  },
};

const keyRemoveCommand: CommandModule<GlobalArgs, KeyArgs> = {
  command: 'remove <id>',
  describe: 'Remove a key file (not the last one, nor the one the password given opens)',
  builder: (y: Argv<GlobalArgs>) => y.positional('id', { type: 'string', describe: 'Key id or unique prefix (see tsbak key list)' }) as unknown as Argv<KeyArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const repo = await openRepository(argv);
    const removed = await repo.removeKey(argv.id as string);
    out.result({ removed }, () => `removed key ${removed.slice(0, 12)}`);
  },
};

const keyPasswdCommand: CommandModule<GlobalArgs, KeyArgs> = {
  command: 'passwd',
  describe: 'Change the password: add a key for the new one, then remove the one in use',
  builder: (y: Argv<GlobalArgs>) => y.options(newPasswordOption) as unknown as Argv<KeyArgs>,
  handler: async (argv) => {
    const out = outputFor(argv);
    const repo = await openRepository(argv);
    const old = repo.keyName;
    const added = await repo.addKey(await newPassword(argv));
    if (old) await repo.removeKey(old, { allowCurrent: true });
    out.result({ added, removed: old ?? null }, () => `changed the password: key ${added.slice(0, 12)} replaces ${old?.slice(0, 12) ?? 'none'}`);
  },
};

export const keyCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'key <command>',
  describe: "Manage the repository's passwords: list, add, remove, passwd",
  builder: (y: Argv<GlobalArgs>) =>
    y
      .command(keyListCommand)
      .command(keyAddCommand)
      .command(keyRemoveCommand)
      .command(keyPasswdCommand)
      .demandCommand(1, 'name a key command; see tsbak key --help')
      .epilogue('See tsbak-key(1).'),
  handler: () => undefined,
};
