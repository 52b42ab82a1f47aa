// Compiles native/*.c into native/build/tsbak-runtime, the built-in runtime's
// launcher, with the system C compiler. Runs as package.json's `install`
// script (before tsc), so it is plain Node ESM with no dependencies.
//
// No compiler, or a failed build, is not fatal: the rest of tsbak installs
// and works; the built-in runtime raises a clear error when it is used.
// Sources compile in parallel (one job per CPU); an up-to-date binary is kept.
// Environment: CC (default `cc`), CFLAGS (appended).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NATIVE = path.dirname(fileURLToPath(import.meta.url));
const OUT_DIR = path.join(NATIVE, 'build');
const OUT = path.join(OUT_DIR, 'tsbak-runtime');
const CFLAGS = ['-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', ...(process.env.CFLAGS ?? '').split(/\s+/).filter(Boolean)];

function warn(text) {
  process.stderr.write(`\ntsbak: warning: ${text}\n\n`);
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b) => (output += b));
    child.stderr.on('data', (b) => (output += b));
    child.on('error', (e) => resolve({ ok: false, output: e.message }));
    child.on('close', (code) => resolve({ ok: code === 0, output }));
  });
}

async function compileAll(cc, sources) {
  const objects = sources.map((src) => path.join(OUT_DIR, `${path.basename(src, '.c')}.o`));
  const results = new Array(sources.length);
  let next = 0;
  const worker = async () => {
    while (next < sources.length) {
      const i = next++;
      results[i] = await run(cc, [...CFLAGS, '-c', '-o', objects[i], sources[i]]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(os.availableParallelism?.() ?? 2, sources.length)) }, worker));
  const failed = results.filter((r) => !r.ok);
  return { ok: failed.length === 0, objects, output: results.map((r) => r.output).join('') };
}

async function build(cc, sources) {
  mkdirSync(OUT_DIR, { recursive: true });
  const compiled = await compileAll(cc, sources);
  if (!compiled.ok) return compiled;
  const tmp = `${OUT}.${process.pid}.tmp`;
  // A static binary does not depend on the host's libc; link dynamically where libc.a is missing.
  let linked = await run(cc, ['-static', '-o', tmp, ...compiled.objects]);
  if (!linked.ok) linked = await run(cc, ['-o', tmp, ...compiled.objects]);
  for (const o of compiled.objects) rmSync(o, { force: true });
  if (!linked.ok) {
    rmSync(tmp, { force: true });
    return linked;
  }
  renameSync(tmp, OUT);
  return { ok: true, output: compiled.output };
}

function upToDate(inputs) {
  try {
    const built = statSync(OUT).mtimeMs;
    return inputs.every((f) => statSync(f).mtimeMs < built);
  } catch {
    return false;
  }
}

async function main() {
  if (process.platform !== 'linux') {
    warn(`the built-in container runtime needs Linux; its launcher (native/) is not built on ${process.platform}. Everything else in tsbak works.`);
    return;
  }
  const files = readdirSync(NATIVE).sort();
  const sources = files.filter((f) => f.endsWith('.c')).map((f) => path.join(NATIVE, f));
  const headers = files.filter((f) => f.endsWith('.h')).map((f) => path.join(NATIVE, f));
  if (upToDate([...sources, ...headers, fileURLToPath(import.meta.url)])) return;
  const cc = process.env.CC || 'cc';
  const probe = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    warn(
      `no C compiler (\`${cc}\`) was found, so the built-in container runtime's launcher ` +
        `(native/build/tsbak-runtime) was not built. tsbak installs and works without it, but ` +
        `\`tsbak restore --to runtime\` and \`tsbak runtime ...\` will fail until it is built: ` +
        `install one with \`apt-get install gcc\` (Debian/Ubuntu), ` +
        `then run \`npm rebuild tsbak\` (or \`node native/build.mjs\` in a checkout).`,
    );
    return;
  }
  const r = await build(cc, sources);
  if (!r.ok) {
    warn(
      `building the built-in container runtime's launcher with \`${cc}\` failed, so ` +
        `\`tsbak restore --to runtime\` and \`tsbak runtime ...\` will not work (the rest of tsbak does). ` +
        `Please report it with the compiler output below; after fixing the cause, run \`npm rebuild tsbak\`.\n\n${r.output.trim()}`,
    );
    return;
  }
  if (r.output.trim()) process.stderr.write(r.output);
}

await main();
