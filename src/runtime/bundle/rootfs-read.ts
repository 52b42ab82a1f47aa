/**
 * The image's account files, read from an unpacked rootfs without ever
 * leaving it: a hostile image can make /etc/passwd a symlink to the host's
 * /etc/shadow, so the files are opened with chroot semantics (openat2
 * RESOLVE_IN_ROOT, through src/sys/fsat.ts's readFileInRoot): symlinks and
 * `..` resolve inside the rootfs. A missing file (or /etc) reads as '',
 * which leaves numeric users only.
 */
import { readFileInRoot } from '../../sys/fsat.js';
import { isErrno } from '../../errors.js';

export interface ImageAccounts {
  passwd: string;
  group: string;
}

/** The largest account file read (a real one is a few KiB). */
const ACCOUNT_FILE_LIMIT = 4 << 20;

function readAccountFile(rootfs: string, file: string): string {
  try {
    return readFileInRoot(rootfs, file, ACCOUNT_FILE_LIMIT).toString('utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return '';
    throw err;
  }
}

export function readImageAccounts(rootfs: string): ImageAccounts {
  return { passwd: readAccountFile(rootfs, '/etc/passwd'), group: readAccountFile(rootfs, '/etc/group') };
}
