/**
 * Process-wide progress: the data paths report bytes as they move them, and
 * the CLI decides whether anyone sees it (a bar on a TTY, nothing in a log).
 * A singleton keeps progress out of every function signature on those paths.
 */
export interface ProgressSink {
  start(label: string, total?: number): void;
  add(bytes: number): void;
  stop(): void;
}

class Progress implements ProgressSink {
  private sink: ProgressSink | undefined;

  attach(sink: ProgressSink | undefined): void {
    this.sink = sink;
  }

  start(label: string, total?: number): void {
    this.sink?.start(label, total);
  }

  add(bytes: number): void {
    this.sink?.add(bytes);
  }

  stop(): void {
    this.sink?.stop();
  }
}

export const progress = new Progress();
