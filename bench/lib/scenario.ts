// What a benchmark scenario is: a module that gets the running engine and a scratch
// directory, runs tsbak and its peers side by side, and returns result rows.
import type { Engine } from '../../test/env/dockerd.js';
import type { Series } from './stats.js';
import type { Tsbak } from './tsbak.js';

/** The sizes and repetitions a run was asked for: options, context and report alike. */
export interface BenchSizes {
  /** Timed repetitions per comparison (medians are reported). */
  reps: number;
  /** Size of the big fixture image, MiB. */
  sizeMB: number;
  /** Size of a second, bigger image measured once for peak RSS only (0: skip). */
  rssSizeMB: number;
  /** The volumes scenario: its big file (MiB), and its small text files (count, total MiB). */
  volumeMB: number;
  smallFiles: number;
  smallMB: number;
  /** The freeze scenario: the sizes of its volumes, MiB, and the numbers of small files in each (every size with every count). */
  freezeMB: number[];
  freezeFiles: number[];
}

/** The sizes of a larger object (options, report), and nothing else. */
export function sizesOf(o: BenchSizes): BenchSizes {
  return {
    reps: o.reps,
    sizeMB: o.sizeMB,
    rssSizeMB: o.rssSizeMB,
    volumeMB: o.volumeMB,
    smallFiles: o.smallFiles,
    smallMB: o.smallMB,
    freezeMB: o.freezeMB,
    freezeFiles: o.freezeFiles,
  };
}

export interface BenchContext extends BenchSizes {
  /** The isolated engine this run started (DOCKER_HOST = engine.host). */
  engine: Engine;
  /** Scratch space for this scenario (repositories, archives); on the same disk as the engine. */
  workDir: string;
  /** When set, also run tsbak once under `node --cpu-prof` and write the profiles here. */
  profileDir?: string;
  /** Environment for every command: DOCKER_HOST, DOCKER_CONFIG, no TSBAK_* of the caller. */
  env: NodeJS.ProcessEnv;
  tsbak: Tsbak;
  log(line: string): void;
}

export interface Goal {
  /** `ratio`: tsbak / peer must not exceed `max`; `absolute`: the tsbak value must not exceed `max` (in the row's unit). */
  kind: 'ratio' | 'absolute';
  max: number;
}

export interface ResultRow {
  /** Stable id, e.g. `images.first-backup`. */
  id: string;
  /** What is compared, e.g. `first backup vs docker save | zstd -3`. */
  title: string;
  unit: 'ms' | 'MiB';
  /** The tsbak figure (median, or the maximum for peak RSS). */
  tsbak: number;
  /** The peer's figure in the same unit, when there is a peer. */
  peer?: number;
  /** tsbak / peer. */
  ratio?: number;
  goal?: Goal;
  /** Whether the goal was met; undefined for informational rows. */
  pass?: boolean;
}

export interface ScenarioResult {
  rows: ResultRow[];
  /** Everything measured, per contestant, for the JSON record. */
  series: Record<string, Series>;
  /** Facts about the inputs (image sizes, archive sizes, tool versions). */
  facts: Record<string, unknown>;
  /** CPU profile summaries, when profiling was asked for. */
  profiles?: Record<string, unknown>;
}

export interface Scenario {
  name: string;
  describe: string;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}

/** A comparison row with its ratio and verdict filled in. */
export function compareRow(row: Omit<ResultRow, 'ratio' | 'pass'>): ResultRow {
  const out: ResultRow = { ...row };
  if (row.peer !== undefined && row.peer > 0) out.ratio = row.tsbak / row.peer;
  if (row.goal) {
    const value = row.goal.kind === 'ratio' ? out.ratio : row.tsbak;
    out.pass = value !== undefined && value <= row.goal.max;
  }
  return out;
}
