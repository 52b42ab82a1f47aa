import type { Argv, CommandModule } from 'yargs';
import { openRepository, outputFor, type GlobalArgs } from '../context.js';
import { UsageError } from '../../errors.js';
import type { RetentionPolicy, KeepCount } from '../../repo/retention-policy.js';

interface ForgetArgs extends GlobalArgs {
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  keepWithinHourly?: string;
  keepWithinDaily?: string;
  keepWithinWeekly?: string;
  keepWithinMonthly?: string;
  keepWithinYearly?: string;
  keepTag: string[];
  groupBy: string;
  timezone?: string;
  dryRun: boolean;
}

const COUNTS = [
  ['keep-last', 'last', 'Keep the N newest snapshots'],
  ['keep-hourly', 'hourly', 'Keep the newest snapshot of each of the last N hours that have one'],
  ['keep-daily', 'daily', 'Keep the newest snapshot of each of the last N days that have one'],
  ['keep-weekly', 'weekly', 'Keep the newest snapshot of each of the last N ISO weeks that have one'],
  ['keep-monthly', 'monthly', 'Keep the newest snapshot of each of the last N months that have one'],
  ['keep-yearly', 'yearly', 'Keep the newest snapshot of each of the last N years that have one'],
] as const;
const WITHINS = [
  ['keep-within', 'within', 'Keep every snapshot newer than the group\'s newest minus DURATION (e.g. 30d, 1y6m, 2d12h)'],
  ['keep-within-hourly', 'withinHourly', 'Keep the newest snapshot per hour within DURATION'],
  ['keep-within-daily', 'withinDaily', 'Keep the newest snapshot per day within DURATION'],
  ['keep-within-weekly', 'withinWeekly', 'Keep the newest snapshot per ISO week within DURATION'],
  ['keep-within-monthly', 'withinMonthly', 'Keep the newest snapshot per month within DURATION'],
  ['keep-within-yearly', 'withinYearly', 'Keep the newest snapshot per year within DURATION'],
] as const;

const camel = (flag: string) => flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) as keyof ForgetArgs;

export const forgetCommand: CommandModule<GlobalArgs, ForgetArgs> = {
  command: 'forget',
  describe: 'Apply a retention policy (restic\'s forget): which snapshots to keep, and why',
  builder: (y: Argv<GlobalArgs>) => {
    let b = y as Argv<GlobalArgs>;
    for (const [flag, , describe] of COUNTS) b = b.option(flag, { type: 'string', requiresArg: true, describe: `${describe} (N, or unlimited)` });
    for (const [flag, , describe] of WITHINS) b = b.option(flag, { type: 'string', requiresArg: true, describe });
    return b
      .option('keep-tag', { type: 'string', array: true, default: [] as string[], describe: 'Keep every snapshot carrying all these comma-separated tags (repeatable: any list)' })
      .option('group-by', { type: 'string', default: 'host,source', describe: 'Apply the policy per group of: host, source (what a snapshot covers), tags; "" for one group' })
      .option('timezone', { type: 'string', describe: 'Zone of the hours, days, weeks, months and years (default: the host\'s, TZ)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Only print the plan; remove nothing' })
      .example('$0 forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run', 'what a common policy would keep')
      .example('$0 forget --keep-within 30d --keep-tag release --dry-run --json', 'the plan with each snapshot\'s reasons') as unknown as Argv<ForgetArgs>;
  },
  handler: async (argv) => {
    const out = outputFor(argv);
    const { parseKeepCount, checkPolicy, describePolicy } = await import('../../repo/retention-policy.js');
    const { planRetention, parseGroupBy, retentionInput } = await import('../../repo/retention.js');
    const policy: RetentionPolicy = {};
    for (const [flag, rule] of COUNTS) {
      const v = argv[camel(flag)] as string | undefined;
      if (v !== undefined) policy[rule] = parseKeepCount(v, `--${flag}`) as KeepCount;
    }
    for (const [flag, rule] of WITHINS) {
      const v = argv[camel(flag)] as string | undefined;
      if (v !== undefined) policy[rule] = v;
    }
    if (argv.keepTag.length > 0) policy.tags = argv.keepTag.map((t) => t.split(',').map((x) => x.trim()));
    checkPolicy(policy);
    const groupBy = parseGroupBy(argv.groupBy);
    if (argv.timezone !== undefined) (await import('../../util/timezone.js')).checkTimeZone(argv.timezone, '--timezone');
    if (!argv.dryRun) {
      // TODO(issue 8): removal belongs to the repository rewrite (deletion under its lock);
      // once Repository.removeSnapshot(id) exists, remove plan.groups[].remove here.
      throw new UsageError('forget can only plan for now (--dry-run): removing snapshots needs the repository\'s delete and lock support (issue 8), which is not merged yet');
    }
    const repo = await openRepository(argv);
    const snapshots = (await repo.snapshots()).map(retentionInput);
    const plan = planRetention(snapshots, policy, { groupBy, ...(argv.timezone ? { timeZone: argv.timezone } : {}) });
    const keep = plan.groups.reduce((n, g) => n + g.keep.length, 0);
    const remove = plan.groups.reduce((n, g) => n + g.remove.length, 0);
    out.result({ repository: repo.location, policy: describePolicy(policy), dryRun: true, groups: plan.groups }, () =>
      [
        `${describePolicy(policy)}`,
        ...plan.groups.flatMap((g) => [
          '',
          `group ${[g.key.hostname !== undefined ? `host ${g.key.hostname}` : '', g.key.source ? `source ${g.key.source.join(' ') || '(nothing)'}` : '', g.key.tags ? `tags ${g.key.tags.join(',') || '(none)'}` : ''].filter(Boolean).join(', ') || '(all snapshots)'}:`,
          ...g.keep.map((k) => `  keep    ${k.id.slice(0, 8)}  ${k.time}  ${k.reasons.matches.join(', ')}`),
          ...g.remove.map((r) => `  remove  ${r.id.slice(0, 8)}  ${r.time}`),
        ]),
        '',
        `would keep ${keep} and remove ${remove} snapshot(s) (dry run)`,
      ].join('\n'),
    );
  },
};
