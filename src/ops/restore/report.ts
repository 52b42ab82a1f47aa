import { PartialFailureError, TsbakError } from '../../errors.js';

export type ItemKind = 'image' | 'volume' | 'container';
export type ItemStatus = 'done' | 'skipped' | 'failed' | 'planned';

/** One line of a restore: what was (or would be) done to one item, and why. */
export interface RestoreItem {
  kind: ItemKind;
  name: string;
  action: string;
  status: ItemStatus;
  detail?: string;
}

export interface RestoreReport {
  snapshotId: string;
  target: string;
  dryRun: boolean;
  items: RestoreItem[];
}

export class RestoreLog {
  readonly items: RestoreItem[] = [];
  constructor(private readonly onItem?: (item: RestoreItem) => void) {}

  add(item: RestoreItem): RestoreItem {
    this.items.push(item);
    this.onItem?.(item);
    return item;
  }

  failed(kind: ItemKind, name: string, action: string, err: unknown): void {
    this.add({ kind, name, action, status: 'failed', detail: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * The exit status of a restore: everything failed → exit 1; some failed → exit 3
 * (what was restored before the failure stays); none failed → ok.
 */
export function restoreOutcome(report: RestoreReport): TsbakError | undefined {
  const failures = report.items.filter((i) => i.status === 'failed');
  if (failures.length === 0) return undefined;
  const list = failures.map((f) => ({ item: `${f.kind} ${f.name}`, error: f.detail ?? 'failed' }));
  const summary = list.map((f) => `${f.item}: ${f.error}`).join('; ');
  if (failures.length === report.items.length) return new TsbakError(`restore failed: ${summary}`);
  return new PartialFailureError(`restore was partial: ${failures.length} of ${report.items.length} item(s) failed: ${summary}`, list);
}
