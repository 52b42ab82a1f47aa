/**
 * Notifications: webhook POSTs of a run's report, and healthchecks-style pings
 * (BASE/start, BASE on success, BASE/fail). On fetch with a timeout; a failure is
 * logged and never fails the run or the daemon.
 */
import type { JsonLog } from './log.js';
import type { Webhook } from './schema.js';
import type { JobFigures } from './job.js';
import { errorMessage } from '../errors.js';

export type RunOutcome = 'success' | 'partial' | 'failure' | 'aborted';

/** The JSON body of a webhook. */
export interface RunReport {
  schedule: string;
  host: string;
  outcome: RunOutcome;
  /** cron, catch-up (a missed slot run later) or manual. */
  trigger: string;
  /** The cron slot this run stands for. */
  slot: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  figures: JobFigures;
  errors: string[];
}

export interface NotifyOptions {
  log: JsonLog;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

async function send(url: string, init: RequestInit, what: string, schedule: string, options: NotifyOptions): Promise<boolean> {
  const doFetch = options.fetch ?? fetch;
  try {
    const res = await doFetch(url, { ...init, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) {
      options.log.write('warn', 'notify-failed', { schedule, what, url: redact(url), error: `HTTP ${res.status} ${res.statusText}` });
      return false;
    }
    return true;
  } catch (err) {
    const error = (err as Error).name === 'TimeoutError' ? `no answer within ${(options.timeoutMs ?? 10_000) / 1000} s` : errorMessage(err);
    options.log.write('warn', 'notify-failed', { schedule, what, url: redact(url), error: `${error}${causeOf(err)}` });
    return false;
  }
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause ? ` (${errorMessage(cause)})` : '';
}

/** URLs may carry tokens (Slack, healthchecks UUIDs): log scheme, host and the path's start only. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.length > 12 ? u.pathname.slice(0, 12) + '…' : u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** POST the report to each webhook whose `on` matches; resolves when all are done. */
export async function notifyWebhooks(webhooks: Webhook[], report: RunReport, options: NotifyOptions): Promise<void> {
  const due = webhooks.filter((w) => w.on === 'always' || report.outcome !== 'success');
  await Promise.all(
    due.map((w) =>
      send(w.url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'tsbak-schedule' }, body: JSON.stringify(report) }, 'webhook', report.schedule, options),
    ),
  );
}

/** A healthchecks.io-style ping: BASE/start, BASE (success), BASE/fail; the body is a short text. */
export async function pingHealthchecks(base: string, kind: 'start' | 'success' | 'fail', schedule: string, body: string, options: NotifyOptions): Promise<void> {
  const url = kind === 'success' ? base : `${base.replace(/\/+$/, '')}/${kind}`;
  await send(url, { method: 'POST', headers: { 'content-type': 'text/plain', 'user-agent': 'tsbak-schedule' }, body: body.slice(0, 10_000) }, `healthchecks ${kind}`, schedule, options);
}
