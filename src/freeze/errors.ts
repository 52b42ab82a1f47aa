import { TsbakError } from '../errors.js';

/** A container could not be frozen or thawed; the message names it and says why. */
export class FreezeError extends TsbakError {
  /** The container's name (or id) when the error is about one container. */
  readonly container: string | undefined;
  readonly reason: string;
  constructor(container: string | undefined, reason: string, message?: string, options: { cause?: unknown } = {}) {
    super(message ?? (container ? `container \`${container}\` could not be frozen: ${reason}` : reason), options);
    this.container = container;
    this.reason = reason;
  }
}

/**
 * A freeze outlasted its limit and was thawed early: whatever was copied under
 * it may be inconsistent. Callers fail the item with this.
 */
export class FreezeExceededError extends TsbakError {
  readonly container: string;
  constructor(container: string, maxFreezeMs: number, windowMs: number) {
    super(
      `container \`${container}\` was thawed early after ${Math.round(windowMs)} ms because the freeze exceeded its limit of ${maxFreezeMs} ms, ` +
        'so the copy taken under it may be inconsistent: raise the freeze limit, or use --quiesce stop',
    );
    this.container = container;
  }
}

/** The cgroup of a process could not be found or used (the caller adds the container's name). */
export class CgroupError extends TsbakError {}
