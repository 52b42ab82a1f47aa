/**
 * The lexical check of layer member names, done before anything touches the
 * filesystem. Names are byte strings (see tar.ts).
 */

/** Segments that need the slow path: `.` or `..` components, empty components, a leading `/`. */
const UNUSUAL = /(?:^|\/)\.{1,2}(?:\/|$)|\/\/|^\//;

export type Normalized = { path: string } | { escape: 'absolute' | 'climbs' } | { invalid: string };

/**
 * A member name as a path relative to the root: no `.`, no empty components,
 * no trailing `/`; `''` is the root itself. Absolute names and names whose
 * `..` components climb above the root are escapes; `a/../b` is `b`.
 */
export function normalizeName(name: string): Normalized {
  if (name.length === 0) return { invalid: 'an empty name' };
  if (name.includes('\0')) return { invalid: 'a name with a NUL byte' };
  if (name.charCodeAt(0) === 0x2f) return { escape: 'absolute' };
  if (!UNUSUAL.test(name)) {
    let end = name.length;
    while (end > 0 && name.charCodeAt(end - 1) === 0x2f) end--;
    return { path: end === name.length ? name : name.slice(0, end) };
  }
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return { escape: 'climbs' };
      out.pop();
    } else out.push(part);
  }
  return { path: out.join('/') };
}

/** Splits a normalized path into its directory ('' for the root) and its last component. */
export function splitPath(path: string): [dir: string, base: string] {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? ['', path] : [path.slice(0, slash), path.slice(slash + 1)];
}
