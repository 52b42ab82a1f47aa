import type { Argv, CommandModule } from 'yargs';
import { outputFor, type GlobalArgs } from '../context.js';

interface ScheduleArgs extends GlobalArgs {
  dir: string;
}
interface ListArgs extends ScheduleArgs {
  count: number;
}
interface RunArgs extends ScheduleArgs {
  state?: string;
  stopTimeout: number;
}

const withDir = <T>(y: Argv<T>) =>
  y.option('dir', { type: 'string', default: '/etc/tsbak/schedules', describe: 'The directory of schedule files (*.yaml, *.yml)' });

const validateCommand: CommandModule<GlobalArgs, ScheduleArgs> = {
  command: 'validate',
  describe: 'Check every schedule file; name each problem\'s file, line and field',
  builder: (y) => withDir(y) as unknown as Argv<ScheduleArgs>,
  handler: async (argv) => {
    const { loadScheduleDirStrict } = await import('../../schedule/load.js');
    const schedules = await loadScheduleDirStrict(argv.dir);
    outputFor(argv).result({ dir: argv.dir, valid: true, schedules: schedules.map((s) => ({ name: s.name, file: s.file })) }, () =>
      schedules.length === 0 ? `no schedule files in ${argv.dir}` : schedules.map((s) => `ok  ${s.name.padEnd(20)} ${s.file}`).join('\n'),
    );
  },
};

const listCommand: CommandModule<GlobalArgs, ListArgs> = {
  command: 'list',
  describe: 'List the schedules and their next run times',
  builder: (y) =>
    withDir(y).option('count', { type: 'number', default: 3, describe: 'How many next run times to show' }) as unknown as Argv<ListArgs>,
  handler: async (argv) => {
    const { loadScheduleDirStrict } = await import('../../schedule/load.js');
    const { nextFireTimes, parseCron } = await import('../../schedule/cron.js');
    const { wallTime, offsetAt } = await import('../../util/timezone.js');
    const schedules = await loadScheduleDirStrict(argv.dir);
    const now = Date.now();
    const rows = schedules.map((s) => ({
      name: s.name,
      file: s.file,
      cron: s.cron,
      timezone: s.timezone,
      repository: s.repository.url ?? null,
      next: nextFireTimes(parseCron(s.cron), s.timezone, now, Math.max(0, Math.floor(argv.count))).map((t) => localIso(t, s.timezone, wallTime, offsetAt)),
    }));
    outputFor(argv).result({ dir: argv.dir, schedules: rows }, () =>
      rows.length === 0
        ? `no schedule files in ${argv.dir}`
        : rows.map((r) => [`${r.name}  (${r.cron}, ${r.timezone})  ${r.file}`, ...r.next.map((n) => `  next ${n}`)].join('\n')).join('\n'),
    );
  },
};

/** ISO 8601 in the schedule's zone, with its offset: what a user reads on the wall clock. */
function localIso(ms: number, zone: string, wallTime: typeof import('../../util/timezone.js').wallTime, offsetAt: typeof import('../../util/timezone.js').offsetAt): string {
  const w = wallTime(ms, zone);
  const p = (n: number) => String(n).padStart(2, '0');
  const off = offsetAt(ms, zone) / 60_000;
  const zoneText = off === 0 ? 'Z' : `${off < 0 ? '-' : '+'}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
  return `${w.year}-${p(w.month)}-${p(w.day)}T${p(w.hour)}:${p(w.minute)}:${p(w.second)}${zoneText}`;
}

const runCommand: CommandModule<GlobalArgs, RunArgs> = {
  command: 'run',
  describe: 'Run the scheduler daemon in the foreground (SIGHUP reloads, SIGTERM stops)',
  builder: (y) =>
    withDir(y)
      .option('state', { type: 'string', describe: 'State file: each schedule\'s last run, for catch-up (default /var/lib/tsbak/schedule-state.json as root)' })
      .option('stop-timeout', { type: 'number', default: 120, describe: 'Seconds SIGTERM waits for running jobs to reach a safe point' }) as unknown as Argv<RunArgs>,
  handler: async (argv) => {
    const { runDaemon } = await import('../../schedule/daemon.js');
    const { runScheduledJob } = await import('../../schedule/job.js');
    const { jsonLog } = await import('../../schedule/log.js');
    const { defaultStatePath } = await import('../../schedule/state.js');
    const code = await runDaemon({
      dir: argv.dir,
      statePath: argv.state ?? defaultStatePath(),
      runJob: runScheduledJob,
      log: jsonLog(),
      stopTimeoutMs: argv.stopTimeout * 1000,
    });
    process.exitCode = code;
  },
};

export const scheduleCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'schedule <command>',
  describe: 'Scheduled backups: validate and list schedule files, run the daemon',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .command(validateCommand)
      .command(listCommand)
      .command(runCommand)
      .demandCommand(1, 'name a schedule command: validate, list or run'),
  handler: () => undefined,
};
