import { SingleBar } from 'cli-progress';
import type { ProgressSink } from '../util/progress.js';
import { formatBytes } from '../util/format.js';

/** A progress bar on stderr, redrawn at most 5 times a second; only ever attached on a TTY. */
export class TerminalProgress implements ProgressSink {
  private bar: SingleBar | undefined;
  private value = 0;

  start(label: string, total?: number): void {
    this.stop();
    this.value = 0;
    const format = total
      ? `${label} [{bar}] {percentage}% {done}/{size} {speed}`
      : `${label} {done} {speed}`;
    this.bar = new SingleBar({ format, stream: process.stderr, fps: 5, hideCursor: true, clearOnComplete: true, barsize: 30 });
    const started = Date.now();
    this.bar.start(total ?? 1, 0, { done: formatBytes(0), size: formatBytes(total ?? 0), speed: '' });
    this.speed = () => `${formatBytes((this.value * 1000) / Math.max(1, Date.now() - started))}/s`;
  }

  private speed: () => string = () => '';

  add(bytes: number): void {
    this.value += bytes;
    this.bar?.update(this.value, { done: formatBytes(this.value), speed: this.speed() });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
