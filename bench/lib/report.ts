// The results table on the console and the JSON record in bench/results/.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { table } from '../../src/util/format.js';
import type { MachineInfo } from './machine.js';
import type { BenchSizes, ResultRow, ScenarioResult } from './scenario.js';

export interface BenchReport extends BenchSizes {
  command: string;
  /** The commit measured; `-dirty` when the work tree had changes. */
  revision: string;
  machine: MachineInfo;
  durationS: number;
  /** 1-minute load average when the run ended (machine.loadAverage is the start's). */
  loadAverageEnd: number;
  scenarios: Record<string, ScenarioResult>;
}

function value(v: number | undefined, unit: ResultRow['unit']): string {
  if (v === undefined) return '-';
  if (unit === 'MiB') return `${v.toFixed(1)} MiB`;
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
}

function goal(row: ResultRow): string {
  if (!row.goal) return '-';
  return row.goal.kind === 'ratio' ? `ratio <= ${row.goal.max}` : `<= ${value(row.goal.max, row.unit)}`;
}

export function resultTable(scenarios: Record<string, ScenarioResult>): string {
  const rows: string[][] = [];
  for (const result of Object.values(scenarios)) {
    for (const r of result.rows) {
      rows.push([
        r.title,
        value(r.tsbak, r.unit),
        value(r.peer, r.unit),
        r.ratio === undefined ? '-' : r.ratio.toFixed(3),
        goal(r),
        r.pass === undefined ? 'info' : r.pass ? 'pass' : 'FAIL',
      ]);
    }
  }
  return table(['scenario', 'tsbak', 'peer', 'ratio', 'goal', 'result'], rows);
}

/** The same table in Markdown, to paste into docs/BENCHMARKS.md. */
export function markdownTable(scenarios: Record<string, ScenarioResult>): string {
  const lines = ['| scenario | tsbak | peer | ratio | goal | result |', '|---|---:|---:|---:|---|---|'];
  for (const result of Object.values(scenarios)) {
    for (const r of result.rows) {
      const verdict = r.pass === undefined ? 'info' : r.pass ? 'pass' : '**fail**';
      lines.push(`| ${r.title.replace(/\|/g, '\\|')} | ${value(r.tsbak, r.unit)} | ${value(r.peer, r.unit)} | ${r.ratio === undefined ? '-' : r.ratio.toFixed(3)} | ${goal(r).replace('<=', '≤')} | ${verdict} |`);
    }
  }
  return lines.join('\n');
}

export async function writeReport(file: string, report: BenchReport): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, `${JSON.stringify(report, null, 2)}\n`);
  await fsp.rename(tmp, file);
}
