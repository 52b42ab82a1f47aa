// `npm install` compiles native/ with the system cc; without one, tsbak still installs
// and says what is missing and how to fix it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('native/build.mjs without a C compiler: exit 0, a warning naming the fix, no binary', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsbak-native-'));
  try {
    cpSync(path.join(root, 'native'), path.join(dir, 'native'), { recursive: true, filter: (src) => !src.includes(`${path.sep}build${path.sep}`) && !src.endsWith(`${path.sep}build`) });
    const r = spawnSync(process.execPath, ['native/build.mjs'], { cwd: dir, encoding: 'utf8', env: { PATH: '/nonexistent' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /no C compiler .*apt-get install gcc.*npm rebuild tsbak/s);
    assert.equal(existsSync(path.join(dir, 'native/build/tsbak-runtime')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
