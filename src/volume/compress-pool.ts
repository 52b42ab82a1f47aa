/**
 * A small pool of worker threads that zstd-compress chunks, so compression
 * runs on the second core while the main thread reads, chunks and hashes.
 * Workers are started on first use and keep the process alive only while
 * they have work.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { TsbakError } from '../errors.js';
import { ZSTD_LEVEL } from '../util/compression.js';

interface Job {
  resolve: (out: Uint8Array) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: number;
  /** Set when the worker failed: no more jobs go to it. */
  failure?: Error;
}

export class CompressPool {
  private slots: Slot[] | undefined;
  private readonly jobs = new Map<number, Job & { slot: Slot }>();
  private nextId = 1;
  private closed = false;

  constructor(
    readonly size = Math.max(1, Math.min(2, availableParallelism())),
    readonly level = ZSTD_LEVEL,
  ) {}

  /** Jobs submitted and not yet finished. */
  get pending(): number {
    return this.jobs.size;
  }

  /**
   * Compress `data` into one zstd frame (level, content checksum). The data's
   * buffer is transferred to the worker when it owns the whole ArrayBuffer
   * (it is unusable afterwards), else copied.
   */
  compress(data: Uint8Array): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new TsbakError('compression pool is closed'));
    const slots = this.start().filter((s) => !s.failure);
    if (slots.length === 0) return Promise.reject(this.start()[0]?.failure ?? new TsbakError('no compression worker is running'));
    let slot = slots[0] as Slot;
    for (const s of slots) if (s.busy < slot.busy) slot = s;
    const id = this.nextId++;
    const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
    const payload = owned ? data : data.slice();
    return new Promise<Uint8Array>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject, slot });
      if (slot.busy++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, data: payload }, [payload.buffer as ArrayBuffer]);
    });
  }

  private start(): Slot[] {
    if (this.slots) return this.slots;
    const url = new URL('./compress-worker.js', import.meta.url);
    this.slots = Array.from({ length: this.size }, () => {
      const worker = new Worker(url, { workerData: { level: this.level } });
      const slot: Slot = { worker, busy: 0 };
      worker.unref();
      worker.on('message', (msg: { id: number; out?: Uint8Array; error?: string }) => {
        const job = this.jobs.get(msg.id);
        if (!job) return;
        this.jobs.delete(msg.id);
        if (--slot.busy === 0) worker.unref();
        if (msg.out) job.resolve(msg.out);
        else job.reject(new TsbakError(`zstd compression failed: ${msg.error ?? 'unknown error'}`));
      });
      worker.on('error', (err) => this.failAll(slot, err));
      worker.on('exit', (code) => {
        if (!this.closed) this.failAll(slot, new TsbakError(`a compression worker exited unexpectedly (code ${code})`));
      });
      return slot;
    });
    return this.slots;
  }

  private failAll(slot: Slot, err: Error): void {
    slot.failure ??= err;
    for (const [id, job] of this.jobs) {
      if (job.slot !== slot) continue;
      this.jobs.delete(id);
      job.reject(err);
    }
    slot.busy = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots ?? [];
    this.slots = undefined;
    await Promise.all(slots.map((s) => s.worker.terminate()));
    for (const job of this.jobs.values()) job.reject(new TsbakError('compression pool closed with work pending'));
    this.jobs.clear();
  }
}
