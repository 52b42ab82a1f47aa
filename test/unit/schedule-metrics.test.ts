import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsBook } from '../../src/schedule/metrics.js';
import { redact } from '../../src/schedule/notify.js';

test('metrics render in the Prometheus text format, per schedule, with escaped labels', () => {
  const m = new MetricsBook();
  m.recordRun({
    schedule: 'nightly',
    host: 'h',
    outcome: 'success',
    trigger: 'cron',
    slot: '2026-12-01T02:30:00.000Z',
    startedAt: '2026-12-01T02:30:00.000Z',
    finishedAt: '2026-12-01T02:31:40.000Z',
    durationMs: 100_000,
    figures: { bytesAdded: 1000, snapshots: 12, freezeWindowMaxMs: 6.5 },
    errors: [],
  });
  m.recordSkip('we"ird', 'overlap');
  assert.equal(
    m.render(['nightly', 'we"ird']),
    [
      '# HELP tsbak_schedule_last_run_timestamp_seconds When the last run of the schedule finished (Unix time).',
      '# TYPE tsbak_schedule_last_run_timestamp_seconds gauge',
      'tsbak_schedule_last_run_timestamp_seconds{schedule="nightly"} 1796092300',
      '# HELP tsbak_schedule_last_success_timestamp_seconds When the last successful run finished (Unix time).',
      '# TYPE tsbak_schedule_last_success_timestamp_seconds gauge',
      'tsbak_schedule_last_success_timestamp_seconds{schedule="nightly"} 1796092300',
      '# HELP tsbak_schedule_last_run_success 1 if the last run succeeded, else 0.',
      '# TYPE tsbak_schedule_last_run_success gauge',
      'tsbak_schedule_last_run_success{schedule="nightly"} 1',
      '# HELP tsbak_schedule_last_duration_seconds How long the last run took.',
      '# TYPE tsbak_schedule_last_duration_seconds gauge',
      'tsbak_schedule_last_duration_seconds{schedule="nightly"} 100',
      '# HELP tsbak_schedule_last_bytes_added Bytes the last run added to the repository.',
      '# TYPE tsbak_schedule_last_bytes_added gauge',
      'tsbak_schedule_last_bytes_added{schedule="nightly"} 1000',
      '# HELP tsbak_schedule_snapshots Snapshots in the repository after the last run.',
      '# TYPE tsbak_schedule_snapshots gauge',
      'tsbak_schedule_snapshots{schedule="nightly"} 12',
      '# HELP tsbak_schedule_last_freeze_window_max_seconds The longest freeze window of the last run.',
      '# TYPE tsbak_schedule_last_freeze_window_max_seconds gauge',
      'tsbak_schedule_last_freeze_window_max_seconds{schedule="nightly"} 0.0065',
      '# HELP tsbak_schedule_runs_total Runs since the daemon started, by outcome.',
      '# TYPE tsbak_schedule_runs_total counter',
      'tsbak_schedule_runs_total{schedule="nightly",outcome="success"} 1',
      '# HELP tsbak_schedule_skipped_total Runs skipped since the daemon started (overlap, repository-busy), by reason.',
      '# TYPE tsbak_schedule_skipped_total counter',
      'tsbak_schedule_skipped_total{schedule="we\\"ird",reason="overlap"} 1',
      '',
    ].join('\n'),
  );
});

test('webhook URLs are redacted in logs', () => {
  assert.equal(redact('https://hooks.slack.com/services/T000/B000/XXXXSECRET'), 'https://hooks.slack.com/services/T0…');
});
