import { promises as fsp } from 'node:fs';
import path from 'node:path';

/** Total size of the regular files under `dir` (or of `dir` itself when it is a file), bytes. */
export async function diskBytes(dir: string): Promise<number> {
  const st = await fsp.lstat(dir);
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) total += await diskBytes(path.join(dir, e.name));
  return total;
}

export const MiB = 1024 * 1024;

export async function removePath(p: string): Promise<void> {
  await fsp.rm(p, { recursive: true, force: true });
}
