import { readFileSync } from 'node:fs';

/** One line of /proc/<pid>/mountinfo (proc(5)). */
export interface MountEntry {
  major: number;
  minor: number;
  /** The path inside the filesystem that is mounted here (`/` unless a sub-tree is). */
  root: string;
  mountPoint: string;
  fstype: string;
  superOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const [major, minor] = (left[2] ?? '').split(':').map(Number);
    const root = left[3];
    const mountPoint = left[4];
    if (root === undefined || mountPoint === undefined || major === undefined || minor === undefined) continue;
    mounts.push({ major, minor, root: unescapeField(root), mountPoint: unescapeField(mountPoint), fstype: right[0] ?? '', superOptions: right[2] ?? '' });
  }
  return mounts;
}

export function readMountinfo(): MountEntry[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}
