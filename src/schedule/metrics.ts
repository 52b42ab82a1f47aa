/**
 * Prometheus textfile metrics, for node-exporter's textfile collector: per schedule, the
 * last run's outcome, time, duration and figures, the last success, run and skip
 * counters. Each file is rewritten whole and atomically (temp + rename) after a run.
 */
import { writeFileAtomic } from '../util/atomic-file.js';
import type { RunReport } from './notify.js';

export interface ScheduleMetrics {
  lastRunSeconds?: number;
  lastSuccessSeconds?: number;
  lastDurationSeconds?: number;
  lastSuccess?: 0 | 1;
  bytesAdded?: number;
  snapshots?: number;
  freezeWindowMaxSeconds?: number;
  runs: Record<string, number>;
  skips: Record<string, number>;
}

const HELP: [keyof ScheduleMetrics, string, string, string][] = [
  ['lastRunSeconds', 'tsbak_schedule_last_run_timestamp_seconds', 'gauge', 'When the last run of the schedule finished (Unix time).'],
  ['lastSuccessSeconds', 'tsbak_schedule_last_success_timestamp_seconds', 'gauge', 'When the last successful run finished (Unix time).'],
  ['lastSuccess', 'tsbak_schedule_last_run_success', 'gauge', '1 if the last run succeeded, else 0.'],
  ['lastDurationSeconds', 'tsbak_schedule_last_duration_seconds', 'gauge', 'How long the last run took.'],
  ['bytesAdded', 'tsbak_schedule_last_bytes_added', 'gauge', 'Bytes the last run added to the repository.'],
  ['snapshots', 'tsbak_schedule_snapshots', 'gauge', 'Snapshots in the repository after the last run.'],
  ['freezeWindowMaxSeconds', 'tsbak_schedule_last_freeze_window_max_seconds', 'gauge', 'The longest freeze window of the last run.'],
];

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The metrics of many schedules, grouped by the textfile each writes to. */
export class MetricsBook {
  private readonly bySchedule = new Map<string, ScheduleMetrics>();

  of(schedule: string): ScheduleMetrics {
    let m = this.bySchedule.get(schedule);
    if (!m) this.bySchedule.set(schedule, (m = { runs: {}, skips: {} }));
    return m;
  }

  recordRun(report: RunReport): void {
    const m = this.of(report.schedule);
    const finished = Date.parse(report.finishedAt) / 1000;
    m.lastRunSeconds = finished;
    m.lastDurationSeconds = report.durationMs / 1000;
    m.lastSuccess = report.outcome === 'success' ? 1 : 0;
    if (report.outcome === 'success') m.lastSuccessSeconds = finished;
    const f = report.figures;
    if (typeof f.bytesAdded === 'number') m.bytesAdded = f.bytesAdded;
    if (typeof f.snapshots === 'number') m.snapshots = f.snapshots;
    if (typeof f.freezeWindowMaxMs === 'number') m.freezeWindowMaxSeconds = f.freezeWindowMaxMs / 1000;
    m.runs[report.outcome] = (m.runs[report.outcome] ?? 0) + 1;
  }

  recordSkip(schedule: string, reason: string): void {
    const m = this.of(schedule);
    m.skips[reason] = (m.skips[reason] ?? 0) + 1;
  }

  /** The text exposition format for these schedules. */
  render(schedules: string[]): string {
    const lines: string[] = [];
    const names = [...schedules].sort();
    for (const [key, metric, type, help] of HELP) {
      const rows = names.flatMap((s) => {
        const v = this.bySchedule.get(s)?.[key];
        return typeof v === 'number' ? [`${metric}{schedule="${label(s)}"} ${v}`] : [];
      });
      if (rows.length) lines.push(`# HELP ${metric} ${help}`, `# TYPE ${metric} ${type}`, ...rows);
    }
    const counters: ['runs' | 'skips', string, string, string][] = [
      ['runs', 'tsbak_schedule_runs_total', 'outcome', 'Runs since the daemon started, by outcome.'],
      ['skips', 'tsbak_schedule_skipped_total', 'reason', 'Runs skipped since the daemon started (overlap, repository-busy), by reason.'],
    ];
    for (const [key, metric, labelName, help] of counters) {
      const rows = names.flatMap((s) =>
        Object.entries(this.bySchedule.get(s)?.[key] ?? {}).sort().map(([l, v]) => `${metric}{schedule="${label(s)}",${labelName}="${label(l)}"} ${v}`),
      );
      if (rows.length) lines.push(`# HELP ${metric} ${help}`, `# TYPE ${metric} counter`, ...rows);
    }
    return lines.join('\n') + '\n';
  }

  async write(file: string, schedules: string[]): Promise<void> {
    await writeFileAtomic(file, this.render(schedules));
  }
}
