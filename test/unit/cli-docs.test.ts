// Keeps --help and the man pages true to each other: every command has a page,
// and every option its --help lists is documented there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const main = join(root, 'dist/src/cli/main.js');
const GLOBAL = new Set(['--repo', '--s3-endpoint', '--json', '--help', '--version']);

function help(args: string[]): string {
  return execFileSync(process.execPath, [main, ...args, '--help'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '200' } });
}

const commands = [...help([]).matchAll(/^\s+tsbak (\w+)/gm)].map((m) => m[1] as string);

test('tsbak --help lists the commands', () => {
  assert.ok(commands.length >= 7, commands.join(','));
  const page = readFileSync(join(root, 'man/tsbak.1'), 'utf8');
  for (const c of commands) assert.match(page, new RegExp(`^\\.B ${c}$`, 'm'), `tsbak(1) lists ${c}`);
});

for (const command of commands) {
  test(`man page of tsbak ${command} documents every option of its --help`, () => {
    const file = join(root, `man/tsbak-${command}.1`);
    assert.ok(existsSync(file), `${file} exists`);
    const page = readFileSync(file, 'utf8').replace(/\\-/g, '-');
    const options = [...help([command]).matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1] as string);
    for (const option of options.filter((o) => !GLOBAL.has(o))) {
      assert.ok(page.includes(option), `tsbak-${command}(1) documents ${option}`);
    }
  });
}

// Commands with subcommands (tsbak runtime run, …) are documented on their parent's page.
for (const command of commands) {
  const commandsSection = /^Commands:\n([\s\S]*?)\n\n/m.exec(help([command]))?.[1] ?? '';
  const subcommands = [...commandsSection.matchAll(new RegExp(`^\\s+tsbak ${command} (\\w+)`, 'gm'))].map((m) => m[1] as string);
  for (const sub of subcommands) {
    test(`man page of tsbak ${command} documents ${sub} and every option of its --help`, () => {
      const page = readFileSync(join(root, `man/tsbak-${command}.1`), 'utf8').replace(/\\-/g, '-');
      assert.match(page, new RegExp(`^\\.B ${sub}$`, 'm'), `tsbak-${command}(1) has an entry for ${sub}`);
      const options = [...help([command, sub]).matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1] as string);
      for (const option of options.filter((o) => !GLOBAL.has(o))) assert.ok(page.includes(option), `tsbak-${command}(1) documents ${sub} ${option}`);
    });
  }
}
