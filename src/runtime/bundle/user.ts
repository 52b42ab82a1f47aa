/**
 * An image's or container's `User` resolved against the image's own
 * /etc/passwd and /etc/group text, the way Docker (runc's libcontainer/user)
 * does:
 *
 * - `''` is root (uid 0), looked up in passwd like `0`;
 * - `name` or `uid`: a name must be in passwd; a uid need not be (then gid 0,
 *   HOME `/`, no supplementary groups). A passwd entry gives the primary gid
 *   and HOME;
 * - `…:group` or `…:gid`: a group name must be in /etc/group, a gid need not
 *   be; an explicit group replaces the primary gid and, as in Docker, leaves
 *   no supplementary groups;
 * - without an explicit group, the supplementary groups are those whose
 *   member list names the user.
 */
import { ImageUserError } from './errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups (setgroups), without the primary gid unless a group lists the user. */
  additionalGids: number[];
  /** From the passwd entry, else `/`. */
  home: string;
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The largest id Docker accepts (ids are int32 in the kernel's view; -1 is "unchanged"). */
const MAX_ID = 2 ** 31 - 1;

function parseId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_ID ? n : undefined;
}

/** `name:password:uid:gid:gecos:home:shell` lines; malformed lines and comments are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    if (!f[0] || uid === undefined || gid === undefined) continue;
    entries.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return entries;
}

/** `name:password:gid:member,member` lines; malformed lines and comments are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = parseId(f[2]);
    if (!f[0] || gid === undefined) continue;
    const members = (f[3] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m.length > 0);
    entries.push({ name: f[0], gid, members });
  }
  return entries;
}

function isNumeric(s: string): boolean {
  return /^\d+$/.test(s);
}

/**
 * Resolves `user` (`''`, `name`, `uid`, `uid:gid`, `name:group`, `uid:group`, `name:gid`)
 * against the text of the image's /etc/passwd and /etc/group ('' when the image has none).
 */
export function resolveUser(user: string, passwd: string, group: string): ResolvedUser {
  const spec = user.trim();
  const parts = spec.split(':');
  if (parts.length > 2 || (parts.length === 2 && (parts[0] === '' || parts[1] === ''))) {
    throw new ImageUserError(`user \`${user}\`: expected name, uid, name:group or uid:gid`);
  }
  const userPart = parts[0] === '' ? '0' : (parts[0] as string);
  const groupPart = parts[1];
  const users = parsePasswd(passwd);
  const groups = parseGroup(group);

  // A name matches first; a number also matches an entry by uid (as runc does).
  let entry = users.find((u) => u.name === userPart);
  if (!entry && isNumeric(userPart)) entry = users.find((u) => u.uid === Number(userPart));
  let uid: number;
  if (entry) {
    uid = entry.uid;
  } else if (isNumeric(userPart)) {
    const n = parseId(userPart);
    if (n === undefined) throw new ImageUserError(`user \`${user}\`: uid ${userPart} is out of range (0 to ${MAX_ID})`);
    uid = n;
  } else {
    const why = users.length === 0 ? ' (the image has no /etc/passwd; give a numeric uid)' : '';
    throw new ImageUserError(`user ${userPart}: no such user in the image's /etc/passwd${why}`);
  }

  let gid = entry?.gid ?? 0;
  let additionalGids: number[] = [];
  if (groupPart !== undefined) {
    const byName = groups.find((g) => g.name === groupPart);
    const byGid = isNumeric(groupPart) ? groups.find((g) => g.gid === Number(groupPart)) : undefined;
    const found = byName ?? byGid;
    if (found) {
      gid = found.gid;
    } else if (isNumeric(groupPart)) {
      const n = parseId(groupPart);
      if (n === undefined) throw new ImageUserError(`user \`${user}\`: gid ${groupPart} is out of range (0 to ${MAX_ID})`);
      gid = n;
    } else {
      const why = groups.length === 0 ? ' (the image has no /etc/group; give a numeric gid)' : '';
      throw new ImageUserError(`group ${groupPart}: no such group in the image's /etc/group${why}`);
    }
  } else if (entry) {
    const name = entry.name;
    additionalGids = [...new Set(groups.filter((g) => g.members.includes(name)).map((g) => g.gid))];
  }
  return { uid, gid, additionalGids, home: entry?.home || '/' };
}
