/**
 * A small pool of worker threads that zstd-compress chunks, so compression
 * runs on the second core while the main thread reads, chunks and hashes.
 *
 * Memory is bounded and flat: the pool owns `capacity` buffers, each large
 * enough for a maximal chunk or its compressed frame. A caller acquires one
 * (waiting while all are in use), copies a chunk in, submits it, gets the
 * compressed frame back in the same buffer, and releases it once written.
 * Workers start on first use and keep the process alive only while busy.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import type * as Binding from 'zstd-napi/binding.js';
import { TsbakError } from '../errors.js';
import { ZSTD_LEVEL } from '../util/compression.js';
import { CHUNK_MAX } from './chunker.js';

interface Job {
  resolve: (frame: Uint8Array) => void;
  reject: (err: Error) => void;
  slot: Slot;
}

interface Slot {
  worker: Worker;
  busy: number;
  /** Set when the worker failed: no more jobs go to it. */
  failure?: Error;
}

/** Bytes per pool buffer: a maximal chunk, or its compressed frame if larger. */
export const POOL_BUFFER = (createRequire(import.meta.url)('zstd-napi/binding.js') as typeof Binding).compressBound(CHUNK_MAX);

export class CompressPool {
  private slots: Slot[] | undefined;
  private readonly jobs = new Map<number, Job>();
  private readonly free: ArrayBuffer[] = [];
  private allocated = 0;
  private readonly waiting: ((buffer: ArrayBuffer) => void)[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    readonly workers = Math.max(1, Math.min(2, availableParallelism())),
    readonly level = ZSTD_LEVEL,
    /** Buffers (chunks in flight) at most. */
    readonly capacity = workers * 4,
  ) {}

  /** A free buffer of POOL_BUFFER bytes; waits while `capacity` are in use. */
  acquire(): Promise<ArrayBuffer> {
    const buffer = this.free.pop();
    if (buffer) return Promise.resolve(buffer);
    if (this.allocated < this.capacity) {
      this.allocated++;
      return Promise.resolve(new ArrayBuffer(POOL_BUFFER));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Give a buffer back (after its frame was written). */
  release(buffer: ArrayBuffer): void {
    if (buffer.byteLength !== POOL_BUFFER) return; // detached or foreign: dropped
    const waiter = this.waiting.shift();
    if (waiter) waiter(buffer);
    else this.free.push(buffer);
  }

  /**
   * Compress the first `length` bytes of an acquired buffer into one zstd
   * frame (level, content checksum). The buffer is transferred to a worker and
   * comes back holding the frame: release(frame.buffer) when done with it.
   */
  compress(buffer: ArrayBuffer, length: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new TsbakError('compression pool is closed'));
    const slots = this.start().filter((s) => !s.failure);
    if (slots.length === 0) return Promise.reject(this.start()[0]?.failure ?? new TsbakError('no compression worker is running'));
    let slot = slots[0] as Slot;
    for (const s of slots) if (s.busy < slot.busy) slot = s;
    const id = this.nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject, slot });
      if (slot.busy++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, buffer, length }, [buffer]);
    });
  }

  private start(): Slot[] {
    if (this.slots) return this.slots;
    const url = new URL('./compress-worker.js', import.meta.url);
    this.slots = Array.from({ length: this.workers }, () => {
      const worker = new Worker(url, { workerData: { level: this.level } });
      const slot: Slot = { worker, busy: 0 };
      worker.unref();
      worker.on('message', (msg: { id: number; buffer: ArrayBuffer; length?: number; error?: string }) => {
        const job = this.jobs.get(msg.id);
        if (!job) return;
        this.jobs.delete(msg.id);
        if (--slot.busy === 0) worker.unref();
        if (msg.error === undefined) job.resolve(new Uint8Array(msg.buffer, 0, msg.length));
        else {
          this.release(msg.buffer);
          job.reject(new TsbakError(`zstd compression failed: ${msg.error}`));
        }
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
      this.allocated--; // its buffer is lost with the worker
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
    this.free.length = 0;
  }
}
