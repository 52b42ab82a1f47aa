// What a command does before its first request: no help rendering, and none of
// the runtime's, the repository's or the engine's modules loaded at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir } from '../helpers.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const app = JSON.stringify(join(root, 'dist/src/cli/app.js'));

/** Runs an ES module script in a child node and returns its stdout. */
function script(source: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', source], { encoding: 'utf8' });
}

test('running a command does not render its help text (yargs would: 60-100 ms on every run)', () => {
  const repo = join(tmpDir('tsbak-cli-'), 'repo');
  execFileSync(process.execPath, [join(root, 'dist/src/cli/main.js'), 'init', '--repo', repo], { stdio: 'ignore' });
  const out = script(`
    const { buildCli } = await import(${app});
    const cli = buildCli(['snapshots', '--repo', ${JSON.stringify(repo)}, '--json']);
    await cli.parseAsync();
    console.log(JSON.stringify({ cached: cli.getInternalMethods().getUsageInstance().hasCachedHelpMessage() }));
  `);
  const lines = out.trim().split('\n');
  assert.deepEqual(JSON.parse(lines.slice(0, -1).join('\n')), [], 'the command ran');
  assert.deepEqual(JSON.parse(lines.at(-1) as string), { cached: false }, 'the help text was rendered while the command ran');
});

test('the CLI loads only the parser and the command modules at start', () => {
  // Every module node loads, as a loader hook sees it.
  const out = script(`
    const seen = [];
    const { register } = await import('node:module');
    const { MessageChannel } = await import('node:worker_threads');
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (url) => seen.push(url));
    port1.unref();
    const hook = 'let port; export function initialize(d) { port = d.port; } export async function load(url, context, next) { port.postMessage(url); return next(url, context); }';
    register('data:text/javascript,' + encodeURIComponent(hook), { data: { port: port2 }, transferList: [port2] });
    await import(${app});
    await new Promise((r) => setTimeout(r, 100));
    console.log(JSON.stringify(seen));
  `);
  const loaded = (JSON.parse(out) as string[]).filter((u) => u.includes('/dist/src/')).map((u) => u.slice(u.indexOf('/dist/src/') + '/dist/src/'.length));
  assert.ok(loaded.includes('cli/commands/backup.js'), `the hook saw the command modules: ${loaded.join(', ')}`);
  const heavy = loaded.filter((f) => /^(runtime|repo|volume|image|ops|freeze|sys|schedule)\//.test(f));
  assert.deepEqual(heavy, [], `loaded at start: ${heavy.join(', ')}`);
});
