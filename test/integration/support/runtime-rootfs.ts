// A container root filesystem made by hand from the static busybox: /bin/busybox and its
// applets as symlinks, /etc/passwd and /etc/group with root and nobody, /tmp.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const BUSYBOX = '/bin/busybox';

export const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
export const GROUP = 'root:x:0:\nnogroup:x:65534:\n';

/** Builds `<dir>/rootfs` and returns its path. */
export function buildBusyboxRootfs(dir: string): string {
  const root = path.join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'root']) mkdirSync(path.join(root, d), { recursive: true, mode: 0o755 });
  copyFileSync(BUSYBOX, path.join(root, 'bin', 'busybox'));
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox' && !a.includes('/'));
  for (const a of applets) symlinkSync('busybox', path.join(root, 'bin', a));
  writeFileSync(path.join(root, 'etc', 'passwd'), PASSWD);
  writeFileSync(path.join(root, 'etc', 'group'), GROUP);
  return root;
}
