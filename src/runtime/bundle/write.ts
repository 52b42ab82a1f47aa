import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { OciSpec } from './oci.js';

/**
 * Writes `spec` as `dir/config.json` atomically (temp file, fsync, rename,
 * fsync of the directory), creating `dir`: a reader (the launcher, runc) sees
 * the old file or the new one, never half of one. Returns the file's path.
 */
export async function writeBundle(dir: string, spec: OciSpec): Promise<string> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const final = path.join(dir, 'config.json');
  const tmp = path.join(dir, `.config.json.${process.pid}.${Date.now().toString(36)}.tmp`);
  const fh = await fsp.open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(spec, null, 2)}\n`);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await fsp.rename(tmp, final);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  const dh = await fsp.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
  return final;
}
