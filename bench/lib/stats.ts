// Repetitions and their summaries.
import os from 'node:os';
import type { Measurement } from './measure.js';

export interface Summary {
  /** Every repetition, in run order. */
  samples: number[];
  median: number;
  min: number;
  max: number;
}

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(values: number[]): Summary {
  return { samples: values, median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** The measurements of one contestant (tsbak or a peer) over the repetitions. */
export interface Series {
  /** What ran, as a shell-like line, for the record. */
  command: string;
  wallMs: Summary;
  peakRssKiB: Summary;
  cpuMs: Summary;
  engineCpuMs?: Summary;
  /** The machine's 1-minute load average as each run started: other work skews the figures. */
  load1?: Summary;
}

export function series(command: string, runs: Measurement[], load1?: number[]): Series {
  const s: Series = {
    command,
    wallMs: summarize(runs.map((r) => r.wallMs)),
    peakRssKiB: summarize(runs.map((r) => r.peakRssKiB)),
    cpuMs: summarize(runs.map((r) => r.cpuMs)),
  };
  const engine = runs.map((r) => r.engineCpuMs);
  if (engine.every((e): e is number => e !== undefined)) s.engineCpuMs = summarize(engine);
  if (load1 && load1.length > 0) s.load1 = summarize(load1);
  return s;
}

/** One contestant of a side-by-side comparison: how to prepare a run, run it, and clean up after it. */
export interface Contestant {
  command: string;
  /** Untimed preparation before each run (e.g. a fresh repository). */
  before?: () => Promise<void>;
  run: () => Promise<Measurement>;
  /** Untimed cleanup after each run (e.g. remove the output, so the disk does not fill). */
  after?: () => Promise<void>;
}

/**
 * Runs the contestants side by side: repetition i runs each of them once, in turn,
 * so a disturbance (another process, the engine's own caches) hits all of them alike.
 */
export async function sideBySide(reps: number, contestants: Contestant[], log: (line: string) => void, label: string): Promise<Series[]> {
  const runs: Measurement[][] = contestants.map(() => []);
  const loads: number[][] = contestants.map(() => []);
  for (let i = 0; i < reps; i++) {
    for (const [k, c] of contestants.entries()) {
      await c.before?.();
      loads[k]!.push(Math.round(os.loadavg()[0]! * 100) / 100);
      const m = await c.run();
      await c.after?.();
      runs[k]!.push(m);
    }
    const line = contestants.map((c, k) => `${shortCommand(c.command)} ${(runs[k]![i]!.wallMs / 1000).toFixed(2)} s`).join(', ');
    log(`${label} ${i + 1}/${reps}: ${line} (load ${loads[0]![i]})`);
  }
  return contestants.map((c, k) => series(c.command, runs[k]!, loads[k]!));
}

function shortCommand(command: string): string {
  return command.length > 40 ? `${command.slice(0, 37)}...` : command;
}
