/**
 * Loading schedule files: YAML → zod → Schedule, with every problem located as
 * `file:line:col: field: message`, and whole directories with duplicate names refused.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { scheduleFileSchema, normalise, type Schedule } from './schema.js';
import { TsbakError, errorMessage } from '../errors.js';

export const DEFAULT_SCHEDULE_DIR = '/etc/tsbak/schedules';

export interface ScheduleProblem {
  file: string;
  line: number;
  col: number;
  /** Dotted path of the field (`retention.keepDaily`), empty for the file as a whole. */
  field: string;
  message: string;
}

export function formatProblem(p: ScheduleProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.field ? `${p.field}: ` : ''}${p.message}`;
}

/** A schedule file (or directory) that does not load; the message lists every problem. */
export class ScheduleError extends TsbakError {
  constructor(readonly problems: ScheduleProblem[]) {
    super(problems.map(formatProblem).join('\n'), { exitCode: 2 });
  }
}

/** Where in the YAML a zod path points: the node itself, else its nearest existing parent. */
function locate(doc: Document, lc: LineCounter, at: (string | number)[], unknownKey?: string): { line: number; col: number } {
  for (let n = at.length; n >= 0; n--) {
    const node = (n === 0 ? doc.contents : doc.getIn(at.slice(0, n), true)) as YamlNode | null | undefined;
    if (!node || !node.range) continue;
    let offset = node.range[0];
    if (unknownKey !== undefined && n === at.length && isMap(node)) {
      const pair = node.items.find((i) => isPair(i) && isScalar(i.key) && String(i.key.value) === unknownKey);
      const key = pair?.key as YamlNode | undefined;
      if (key?.range) offset = key.range[0];
    }
    return lc.linePos(offset);
  }
  return { line: 1, col: 1 };
}

/** Parse and validate one file's text. */
export function parseScheduleText(text: string, file: string): Schedule {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ScheduleError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
        return { file, line: pos.line, col: pos.col, field: '', message: `not valid YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ScheduleError([{ file, line: 1, col: 1, field: '', message: 'a schedule file is a YAML mapping (name:, cron:, select:, …); see tsbak-schedule(5)' }]);
  }
  const result = scheduleFileSchema.safeParse(data);
  if (!result.success) {
    const problems: ScheduleProblem[] = [];
    for (const issue of result.error.issues.flatMap((i) => unwrapUnion(i, []))) {
      const at = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          problems.push({ file, ...locate(doc, lc, at, key), field: [...at, key].join('.'), message: `unknown field "${key}" (see tsbak-schedule(5) for the fields)` });
        }
        continue;
      }
      const missing = issue.code === 'invalid_type' && doc.getIn(at) === undefined;
      problems.push({ file, ...locate(doc, lc, at), field: at.join('.'), message: missing ? 'is required' : fixedMessage(issue.message) });
    }
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new ScheduleError(dedupe(problems));
  }
  return normalise(result.data, file, path.basename(file).replace(/\.ya?ml$/, ''));
}

/**
 * A value matching no branch of a union (`check: true` or `check: {…}`) gets zod's bare
 * "Invalid input"; report instead the issues of the branch that got furthest (whose
 * issues lie deepest), or, when all fail at the top, the expected kinds.
 */
function unwrapUnion(issue: z.core.$ZodIssue, base: PropertyKey[]): z.core.$ZodIssue[] {
  const path = [...base, ...issue.path];
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [{ ...issue, path }];
  const depth = (branch: z.core.$ZodIssue[]) => Math.max(...branch.map((i) => i.path.length + (i.code === 'invalid_type' ? 0 : 0.5)));
  const best = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0] as z.core.$ZodIssue[];
  if (depth(best) > 0) return best.flatMap((i) => unwrapUnion(i, path));
  const kinds = issue.errors.flatMap((b) => b.map((i) => (i.code === 'invalid_type' ? i.expected : undefined))).filter(Boolean);
  return [{ ...issue, path, message: `expected ${[...new Set(kinds)].join(' or ')} (see tsbak-schedule(5))` }];
}

function fixedMessage(message: string): string {
  return message.replace(/^Invalid input: /, '');
}

function dedupe(problems: ScheduleProblem[]): ScheduleProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = formatProblem(p);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export async function loadScheduleFile(file: string): Promise<Schedule> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw new ScheduleError([{ file, line: 1, col: 1, field: '', message: `cannot read: ${errorMessage(err)}` }]);
  }
  return parseScheduleText(text, file);
}

export interface LoadedDirectory {
  schedules: Schedule[];
  /** Files that did not load, each with its problems; the others still load. */
  broken: { file: string; error: ScheduleError }[];
  /** Every .yaml / .yml file looked at. */
  files: string[];
}

/** Load every *.yaml / *.yml of a directory (not recursively), in name order; a later duplicate name is a broken file. */
export async function loadScheduleDir(dir: string): Promise<LoadedDirectory> {
  let entries: string[];
  try {
    entries = (await fsp.readdir(dir)).filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('.')).sort();
  } catch (err) {
    throw new TsbakError(`cannot read the schedule directory ${dir}: ${errorMessage(err)} (name another with --dir)`);
  }
  const out: LoadedDirectory = { schedules: [], broken: [], files: entries.map((f) => path.join(dir, f)) };
  const byName = new Map<string, Schedule>();
  for (const file of out.files) {
    try {
      const s = await loadScheduleFile(file);
      const first = byName.get(s.name);
      if (first) {
        throw new ScheduleError([{ file, line: 1, col: 1, field: 'name', message: `schedule "${s.name}" is already defined in ${first.file}: give each schedule its own name` }]);
      }
      byName.set(s.name, s);
      out.schedules.push(s);
    } catch (err) {
      if (!(err instanceof ScheduleError)) throw err;
      out.broken.push({ file, error: err });
    }
  }
  return out;
}

/** Load a directory and fail on any broken file (validate, list). */
export async function loadScheduleDirStrict(dir: string): Promise<Schedule[]> {
  const loaded = await loadScheduleDir(dir);
  if (loaded.broken.length > 0) throw new ScheduleError(loaded.broken.flatMap((b) => b.error.problems));
  return loaded.schedules;
}
