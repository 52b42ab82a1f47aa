import type { ContainerRecord } from './model.js';

/**
 * Containers that must exist before this one: `--network container:X`,
 * `--volumes-from X`, legacy links and `--ipc/--pid container:X`.
 */
export function containerDependencies(record: ContainerRecord): string[] {
  const deps = new Set<string>();
  const fromMode = (value: string | undefined) => {
    if (value?.startsWith('container:')) deps.add(value.slice('container:'.length));
  };
  fromMode(record.network.mode);
  fromMode(record.ipcMode);
  fromMode(record.pidMode);
  for (const v of record.volumesFrom) deps.add(v.split(':')[0] as string);
  for (const l of record.links) deps.add((l.split(':')[0] as string).replace(/^\//, ''));
  deps.delete(record.name);
  return [...deps];
}

/** Order containers so each comes after what it depends on; cycles keep their input order. */
export function dependencyOrder(records: ContainerRecord[]): ContainerRecord[] {
  const byName = new Map(records.map((r) => [r.name, r]));
  const ordered: ContainerRecord[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (r: ContainerRecord) => {
    if (state.get(r.name)) return;
    state.set(r.name, 'visiting');
    for (const dep of containerDependencies(r)) {
      const d = byName.get(dep);
      if (d) visit(d);
    }
    state.set(r.name, 'done');
    ordered.push(r);
  };
  records.forEach(visit);
  return ordered;
}
