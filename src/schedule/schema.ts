/**
 * The schedule file format (tsbak-schedule(5)) as a zod schema, and the normalised
 * Schedule the daemon and the job layer use. zod, not ajv: the schema is TypeScript, the
 * parsed type follows from it, and refinements (cron, time zone, keep counts) reuse the
 * same checks as the CLI; ajv would need a JSON Schema document plus hand-written types.
 */
import { z } from 'zod';
import { cronProblems } from './cron.js';
import { isValidTimeZone, localTimeZone } from '../util/timezone.js';
import { keepCountProblem, parseCalendarDuration, type RetentionPolicy } from '../repo/retention-policy.js';

/** A job's selection: what `tsbak backup` would be given. */
export interface Selection {
  all: boolean;
  images: string[];
  volumes: string[];
  containers: string[];
  /** Containers by label, `K=V` (their images and volumes follow). */
  labels: string[];
}

export interface Webhook {
  url: string;
  on: 'failure' | 'always';
}

/** One schedule, as loaded and normalised. */
export interface Schedule {
  name: string;
  /** The file it came from. */
  file: string;
  cron: string;
  timezone: string;
  jitterMs: number;
  select: Selection;
  repository: { url?: string; passwordFile?: string; s3Endpoint?: string };
  quiesce: 'freeze' | 'stop' | 'none';
  tags: string[];
  retention?: RetentionPolicy;
  prune: boolean;
  check?: { readData: boolean; readDataSubset?: string };
  hooks: { before: string[]; after: string[]; timeoutMs: number };
  notify: { webhooks: Webhook[]; healthchecks?: string };
  /** Prometheus textfile (for node-exporter's textfile collector). */
  metrics?: string;
}

/** `30s`, `5m`, `1h30m`, `2h`, or a number of seconds. */
export function parseJitter(value: string | number): number {
  if (typeof value === 'number') {
    if (!(value >= 0) || !Number.isFinite(value)) throw new Error(`${value} is not a duration: write 0 or more seconds, or 30s, 5m, 1h`);
    return value * 1000;
  }
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let at = 0;
  const s = value.trim();
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * (units[m[2] as string] as number);
    at = re.lastIndex;
  }
  if (s === '' || at !== s.length) throw new Error(`"${value}" is not a duration: write e.g. 30s, 5m, 1h30m`);
  return total;
}

const stringList = z.union([z.string().min(1), z.array(z.string().min(1))]).transform((v) => (Array.isArray(v) ? v : [v]));

const cronField = z.string().superRefine((value, ctx) => {
  for (const p of cronProblems(value)) ctx.addIssue({ code: 'custom', message: p.message });
});

const timezoneField = z.string().superRefine((v, ctx) => {
  if (!isValidTimeZone(v)) ctx.addIssue({ code: 'custom', message: `"${v}" is not a time zone: use an IANA name such as Europe/Berlin or UTC` });
});

const durationField = z.union([z.string(), z.number()]).superRefine((v, ctx) => {
  try {
    parseJitter(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const keepCount = z.union([z.number(), z.string()]).superRefine((v, ctx) => {
  const p = keepCountProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

const calendarDuration = z.string().superRefine((v, ctx) => {
  try {
    parseCalendarDuration(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const labelField = z.string().regex(/^[^=\s]+=.*$/, { message: 'a label selector is KEY=VALUE, e.g. tsbak.backup=true' });

const selection = z.union([
  z.literal('all'),
  z
    .strictObject({
      all: z.boolean().optional(),
      images: stringList.optional(),
      volumes: stringList.optional(),
      containers: stringList.optional(),
      label: z.union([labelField, z.array(labelField)]).optional(),
    })
    .refine((s) => s.all || s.images || s.volumes || s.containers || s.label, {
      message: 'select names nothing: write "all", or images, volumes, containers or label',
    }),
]);

const retention = z.strictObject({
  keepLast: keepCount.optional(),
  keepHourly: keepCount.optional(),
  keepDaily: keepCount.optional(),
  keepWeekly: keepCount.optional(),
  keepMonthly: keepCount.optional(),
  keepYearly: keepCount.optional(),
  keepWithin: calendarDuration.optional(),
  keepWithinHourly: calendarDuration.optional(),
  keepWithinDaily: calendarDuration.optional(),
  keepWithinWeekly: calendarDuration.optional(),
  keepWithinMonthly: calendarDuration.optional(),
  keepWithinYearly: calendarDuration.optional(),
  /** Each entry: tags that must all be on a snapshot, comma-separated. */
  keepTag: stringList.optional(),
});

const percent = z.string().regex(/^(\d+(\.\d+)?)%$/, { message: 'write a percentage such as 5%' }).refine((v) => {
  const n = Number(v.slice(0, -1));
  return n > 0 && n <= 100;
}, { message: 'the percentage must be more than 0% and at most 100%' });

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

const urlField = z.string().superRefine((v, ctx) => {
  if (!isHttpUrl(v)) ctx.addIssue({ code: 'custom', message: `"${v}" is not an http(s) URL` });
});

export const scheduleFileSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { message: 'a name is letters, digits, ".", "_" and "-", starting with a letter or digit' }).optional(),
  cron: cronField,
  timezone: timezoneField.optional(),
  jitter: durationField.optional(),
  select: selection,
  repository: z
    .union([z.string().min(1), z.strictObject({ url: z.string().min(1).optional(), passwordFile: z.string().min(1).optional(), s3Endpoint: urlField.optional() })])
    .optional(),
  quiesce: z.enum(['freeze', 'stop', 'none'], { message: 'quiesce is freeze, stop or none' }).optional(),
  tags: stringList.optional(),
  retention: retention.optional(),
  prune: z.boolean({ message: 'prune is true or false' }).optional(),
  check: z
    .union([z.boolean(), z.strictObject({ readData: z.boolean().optional(), readDataSubset: percent.optional() })])
    .optional(),
  hooks: z.strictObject({ before: stringList.optional(), after: stringList.optional(), timeout: durationField.optional() }).optional(),
  notify: z
    .strictObject({
      webhooks: z.array(z.strictObject({ url: urlField, on: z.enum(['failure', 'always'], { message: 'on is failure or always' }).optional() })).optional(),
      healthchecks: urlField.optional(),
    })
    .optional(),
  metrics: z.string().regex(/\.prom$/, { message: "node-exporter's textfile collector reads files ending in .prom: name the file so" }).optional(),
});

export type ScheduleFile = z.infer<typeof scheduleFileSchema>;

/** The normalised schedule of a validated file. `name` defaults to the file's base name. */
export function normalise(file: ScheduleFile, path: string, defaultName: string): Schedule {
  const select: Selection = { all: false, images: [], volumes: [], containers: [], labels: [] };
  if (file.select === 'all') select.all = true;
  else {
    select.all = file.select.all === true;
    select.images = file.select.images ?? [];
    select.volumes = file.select.volumes ?? [];
    select.containers = file.select.containers ?? [];
    select.labels = file.select.label === undefined ? [] : Array.isArray(file.select.label) ? file.select.label : [file.select.label];
  }
  const repo = file.repository === undefined ? {} : typeof file.repository === 'string' ? { url: file.repository } : file.repository;
  const schedule: Schedule = {
    name: file.name ?? defaultName,
    file: path,
    cron: file.cron,
    timezone: file.timezone ?? localTimeZone(),
    jitterMs: file.jitter === undefined ? 0 : parseJitter(file.jitter),
    select,
    repository: { ...repo },
    quiesce: file.quiesce ?? 'freeze',
    tags: file.tags ?? [],
    prune: file.prune ?? false,
    hooks: {
      before: file.hooks?.before ?? [],
      after: file.hooks?.after ?? [],
      timeoutMs: file.hooks?.timeout === undefined ? 600_000 : parseJitter(file.hooks.timeout),
    },
    notify: {
      webhooks: (file.notify?.webhooks ?? []).map((w) => ({ url: w.url, on: w.on ?? 'failure' })),
      ...(file.notify?.healthchecks ? { healthchecks: file.notify.healthchecks } : {}),
    },
  };
  if (file.retention) schedule.retention = retentionPolicyOf(file.retention);
  if (file.check !== undefined && file.check !== false) {
    schedule.check = file.check === true ? { readData: false } : { readData: file.check.readData ?? false, ...(file.check.readDataSubset ? { readDataSubset: file.check.readDataSubset } : {}) };
  }
  if (file.metrics) schedule.metrics = file.metrics;
  return schedule;
}

function retentionPolicyOf(r: NonNullable<ScheduleFile['retention']>): RetentionPolicy {
  const p: RetentionPolicy = {};
  const count = (v: string | number | undefined) => (v === undefined ? undefined : v === 'unlimited' ? ('unlimited' as const) : Number(v));
  const set = <K extends keyof RetentionPolicy>(k: K, v: RetentionPolicy[K] | undefined) => {
    if (v !== undefined) p[k] = v;
  };
  set('last', count(r.keepLast));
  set('hourly', count(r.keepHourly));
  set('daily', count(r.keepDaily));
  set('weekly', count(r.keepWeekly));
  set('monthly', count(r.keepMonthly));
  set('yearly', count(r.keepYearly));
  set('within', r.keepWithin);
  set('withinHourly', r.keepWithinHourly);
  set('withinDaily', r.keepWithinDaily);
  set('withinWeekly', r.keepWithinWeekly);
  set('withinMonthly', r.keepWithinMonthly);
  set('withinYearly', r.keepWithinYearly);
  if (r.keepTag) p.tags = r.keepTag.map((t) => t.split(',').map((x) => x.trim()));
  return p;
}
