// Keeps --help and the man pages true to each other: every command has a page,
// every option its --help lists (its subcommands' too) is documented there, and every
// field of a schedule file is documented in tsbak-schedule(5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scheduleFileSchema } from '../../src/schedule/schema.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const main = join(root, 'dist/src/cli/main.js');
const GLOBAL = new Set(['--repo', '--s3-endpoint', '--password-file', '--host', '--json', '--help', '--version']);

function help(args: string[]): string {
  return execFileSync(process.execPath, [main, ...args, '--help'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '200' } });
}

const commands = [...help([]).matchAll(/^\s+tsbak (\w+)/gm)].map((m) => m[1] as string);

test('tsbak --help lists the commands', () => {
  assert.ok(commands.length >= 7, commands.join(','));
  const page = readFileSync(join(root, 'man/tsbak.1'), 'utf8');
  for (const c of commands) assert.match(page, new RegExp(`^\\.B ${c}$`, 'm'), `tsbak(1) lists ${c}`);
});

const optionsOf = (args: string[]): string[] => [...help(args).matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1] as string);

for (const command of commands) {
  test(`man page of tsbak ${command} documents every option of its --help and of its subcommands`, () => {
    const file = join(root, `man/tsbak-${command}.1`);
    assert.ok(existsSync(file), `${file} exists`);
    const page = readFileSync(file, 'utf8').replace(/\\-/g, '-');
    const section = /^Commands:\n([\s\S]*?)\n\n/m.exec(help([command]))?.[1] ?? '';
    const subcommands = [...section.matchAll(new RegExp(`^\\s+tsbak ${command} (\\w+)`, 'gm'))].map((m) => m[1] as string);
    for (const sub of subcommands) {
      assert.match(page, new RegExp(`^\\.B tsbak ${command} ${sub}$|^\\.B ${sub}$`, 'm'), `tsbak-${command}(1) describes ${sub}`);
    }
    for (const args of [[command], ...subcommands.map((sub) => [command, sub])]) {
      for (const option of optionsOf(args).filter((o) => !GLOBAL.has(o))) {
        assert.ok(page.includes(option), `tsbak-${command}(1) documents ${option} (of tsbak ${args.join(' ')})`);
      }
    }
  });
}

test('tsbak-schedule(5) documents every field of a schedule file', () => {
  const page = readFileSync(join(root, 'man/tsbak-schedule.5'), 'utf8');
  const documented = (field: string) => new RegExp(`^\\.(B|BR|TP\\n\\.B) ${field}( |$)`, 'm').test(page) || page.includes(`.BR ${field} `) || page.includes(`.B ${field}\n`);
  const fields: string[] = Object.keys(scheduleFileSchema.shape);
  const nested = scheduleFileSchema.shape;
  const objectKeys = (schema: unknown): string[] => {
    const s = schema as { unwrap?: () => unknown; shape?: Record<string, unknown>; options?: unknown[]; def?: { innerType?: unknown } };
    if (s.shape) return Object.keys(s.shape);
    if (s.options) return s.options.flatMap(objectKeys);
    if (s.def?.innerType) return objectKeys(s.def.innerType);
    return [];
  };
  for (const key of Object.keys(nested)) fields.push(...objectKeys(nested[key as keyof typeof nested]));
  assert.ok(fields.includes('keepDaily') && fields.includes('readDataSubset') && fields.includes('passwordFile'), fields.join(','));
  for (const field of new Set(fields)) assert.ok(documented(field), `tsbak-schedule(5) documents ${field}`);
});
