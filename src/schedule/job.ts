/**
 * The job runner contract between the scheduler and the job layer (ops/job.ts, issue 9
 * item 1, not merged yet). The daemon owns timing, overlap, hooks, notifications and
 * metrics; the runner owns the work: backup of `schedule.select` into
 * `schedule.repository`, then forget (`schedule.retention`), prune, check.
 */
import type { Schedule } from './schema.js';
import { TsbakError } from '../errors.js';

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

/** The runner `tsbak schedule run` uses until the job layer is merged. */
export const runScheduledJob: JobRunner = async () => {
  throw new TsbakError('scheduled backups need the job layer (ops/job.ts), which is not merged yet');
};
