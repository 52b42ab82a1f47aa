// Stops whatever the test environment started, once, even when start-up failed half-way.
/**
 * Collects the stop actions of started components and runs them all once, in
 * parallel, then the `last` ones (directories). A stop added after run() began
 * runs as soon as the others are done, so a late starter is not leaked.
 */
export class Teardown {
  private readonly stops: { what: string; stop: () => Promise<void> }[] = [];
  private readonly finals: { what: string; stop: () => Promise<void> }[] = [];
  private running: Promise<void> | undefined;

  /** Registers a stop; `last` ones run after all others (the directories holding them). */
  add(what: string, stop: () => Promise<void>, opts: { last?: boolean } = {}): void {
    if (this.running) {
      void this.running.then(() => this.stopOne(what, stop));
      return;
    }
    (opts.last ? this.finals : this.stops).push({ what, stop });
  }

  run(): Promise<void> {
    this.running ??= this.stopAll();
    return this.running;
  }

  private async stopAll(): Promise<void> {
    // Components are independent of each other, so they stop in parallel.
    await Promise.all(this.stops.map((s) => this.stopOne(s.what, s.stop)));
    for (const s of this.finals) await this.stopOne(s.what, s.stop);
  }

  private async stopOne(what: string, stop: () => Promise<void>): Promise<void> {
    try {
      await stop();
    } catch (e) {
      console.error(`test env: stopping ${what} failed: ${(e as Error).message}`);
    }
  }
}
