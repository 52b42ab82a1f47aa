/**
 * The job runner contract between the scheduler and the job layer (ops/job.ts). The daemon owns timing, overlap, hooks, notifications and
 * metrics; the runner owns the work: backup of `schedule.select` into
 * `schedule.repository`, then forget (`schedule.retention`), prune, check.
 */
import type { Schedule } from './schema.js';

/** What a run did, for notifications, metrics and the log. All optional: report what applies. */
export interface JobFigures {
  snapshotId?: string;
  /** Bytes newly stored in the repository by this run. */
  bytesAdded?: number;
  /** Snapshots in the repository after the run (after forget). */
  snapshots?: number;
  /** Snapshots forgotten by the retention policy. */
  forgotten?: number;
  /** The longest freeze window of the run, in milliseconds. */
  freezeWindowMaxMs?: number;
  /** Anything else worth a line in the webhook body. */
  [key: string]: number | string | undefined;
}

export interface JobResult {
  /** `partial`: some items failed and the rest are safe (exit 3 of the CLI). */
  outcome: 'success' | 'partial';
  figures: JobFigures;
  /** What failed, each naming the item and the fix. */
  errors: string[];
}

/**
 * Run one scheduled job. Resolve with the result; reject on failure (the error's message
 * is reported). When `signal` aborts (SIGTERM, or the daemon stopping), reach a safe
 * point promptly (nothing frozen, no half-written object published), then reject with
 * `signal.reason`.
 */
export type JobRunner = (schedule: Schedule, signal: AbortSignal) => Promise<JobResult>;

/**
 * The runner of `tsbak schedule run`: the schedule's backup through the job layer
 * (ops/job.ts), then its check. Retention and prune need the repository's delete
 * support: a schedule that asks for them gets an error in its result (the backup
 * itself is kept) until that lands.
 */
export const runScheduledJob: JobRunner = async (schedule, signal) => {
  const { runBackupJob, defaultVolumeOptions } = await import('../ops/job.js');
  const repo = await openScheduleRepository(schedule);
  const job = await runBackupJob(
    repo,
    {
      engine: 'docker',
      all: schedule.select.all,
      images: schedule.select.images,
      containers: schedule.select.containers,
      volumes: schedule.select.volumes,
      labels: schedule.select.labels,
      tags: [...schedule.tags, `schedule:${schedule.name}`],
      volumeOptions: defaultVolumeOptions({ quiesce: schedule.quiesce }),
    },
    { signal },
  );
  const errors = job.failures.map((f) => `${f.item}: ${f.error}`);
  const figures: JobFigures = { snapshotId: job.result.snapshotId, bytesAdded: job.result.newBytes };
  if (job.source === 'runtime') {
    const windows = job.result.volumes.flatMap((v) => v.quiesce.map((q) => q.windowMs ?? 0));
    if (windows.length > 0) figures.freezeWindowMaxMs = Math.max(...windows);
  }
  if (schedule.retention || schedule.prune) {
    errors.push('retention and prune are not applied yet: deleting snapshots needs repository format 2 (issue 8); the backup is kept');
  }
  signal.throwIfAborted();
  if (schedule.check) {
    const { checkRepository, readDataShare } = await import('../repo/check.js');
    const { reachableBlobs } = await import('../ops/reachable.js');
    const share = schedule.check.readData ? 1 : readDataShare(schedule.check.readDataSubset);
    const report = await checkRepository(repo, { readData: share, reachable: reachableBlobs });
    errors.push(...report.errors.map((e) => `check: ${e}`));
    figures.checkErrors = report.errors.length;
  }
  figures.snapshots = (await repo.snapshotIds()).length;
  return { outcome: errors.length > 0 ? 'partial' : 'success', figures, errors };
};

async function openScheduleRepository(schedule: Schedule) {
  const { openBackend, repositoryLocation } = await import('../repo/locate.js');
  const { Repository } = await import('../repo/repository.js');
  const { passwordSource } = await import('../cli/password.js');
  const location = repositoryLocation(schedule.repository.url);
  const backend = openBackend(location.url, { s3Endpoint: schedule.repository.s3Endpoint });
  const password = passwordSource({}, { create: location.isDefault, location: backend.location, ...(location.isDefault ? { defaultRepo: location.url } : {}) });
  return Repository.open(backend, { create: location.isDefault, password });
}
