import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { OciSpec } from './oci.js';
import { writeJsonAtomic } from '../../util/atomic-file.js';

/**
 * Writes `spec` as `dir/config.json` atomically, creating `dir`: a reader
 * (the launcher, runc) sees the old file or the new one, never half of one.
 * Returns the file's path.
 */
export async function writeBundle(dir: string, spec: OciSpec): Promise<string> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const final = path.join(dir, 'config.json');
  await writeJsonAtomic(final, spec);
  return final;
}
