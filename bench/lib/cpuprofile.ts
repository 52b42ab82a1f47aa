// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): where the main thread's time went.
// Native worker threads (zstd-napi's compression workers, libuv's file I/O pool) are not
// sampled: their work shows up as "(idle)" on the main thread and in the process's CPU time.
import { promises as fsp } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Main thread waiting (I/O, worker threads, the engine). */
  idleMs: number;
  gcMs: number;
  /** Time by source area: a package, node's internals, or a tsbak file. */
  byArea: { area: string; ms: number; share: number }[];
  /** The functions with the most self time. */
  topFunctions: { fn: string; where: string; ms: number; share: number }[];
}

/** `node_modules/tar-stream/pack.js` → `tar-stream`; `node:internal/…` → `node:internal`; tsbak's own files by path. */
function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url.startsWith('node:internal') ? 'node:internal' : url;
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return path.basename(url);
}

export async function summarizeProfile(file: string, top = 12): Promise<ProfileSummary> {
  const profile = JSON.parse(await fsp.readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totalUs = profile.endTime - profile.startTime;
  let idleUs = 0;
  let gcUs = 0;
  const areas = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; us: number }>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idleUs += us;
    if (functionName === '(garbage collector)') gcUs += us;
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const where = url ? `${areaOf(url, functionName)}:${lineNumber + 1}` : '';
    const key = `${functionName}@${where}`;
    const entry = fns.get(key) ?? { fn: functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    fns.set(key, entry);
  }
  const ms = (us: number) => Math.round(us / 100) / 10;
  const share = (us: number) => Math.round((1000 * us) / totalUs) / 10;
  return {
    file,
    totalMs: ms(totalUs),
    idleMs: ms(idleUs),
    gcMs: ms(gcUs),
    byArea: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([area, us]) => ({ area, ms: ms(us), share: share(us) })),
    topFunctions: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ fn: f.fn, where: f.where, ms: ms(f.us), share: share(f.us) })),
  };
}

/** A few human lines for the console. */
export function describeProfile(name: string, s: ProfileSummary): string {
  const lines = [`profile ${name}: ${s.totalMs} ms on the main thread, ${s.idleMs} ms idle, ${s.gcMs} ms GC (${s.file})`];
  lines.push(`  by area: ${s.byArea.map((a) => `${a.area} ${a.share}%`).join(', ')}`);
  for (const f of s.topFunctions.slice(0, 8)) lines.push(`  ${String(f.share).padStart(5)}%  ${f.fn}  ${f.where}`);
  return lines.join('\n');
}
