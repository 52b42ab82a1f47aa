/** The daemon's log: one JSON object per line (time, level, event, then the event's fields). */
import type { Writable } from 'node:stream';

export type LogLevel = 'info' | 'warn' | 'error';

export interface JsonLog {
  write(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

export function jsonLog(stream: Writable = process.stdout, now: () => number = Date.now): JsonLog {
  return {
    write(level, event, fields = {}) {
      stream.write(JSON.stringify({ time: new Date(now()).toISOString(), level, event, ...fields }) + '\n');
    },
  };
}

/** A log that keeps its entries, for tests. */
export function memoryLog(): JsonLog & { entries: ({ level: LogLevel; event: string } & Record<string, unknown>)[] } {
  const entries: ({ level: LogLevel; event: string } & Record<string, unknown>)[] = [];
  return { entries, write: (level, event, fields = {}) => void entries.push({ level, event, ...fields }) };
}
