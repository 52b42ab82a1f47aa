import { TsbakError } from '../../errors.js';

/**
 * A layer entry that would reach outside the root filesystem: a name that is
 * absolute or climbs above the root with `..`, a path through a symlink that
 * climbs above it, a hard link or whiteout that does. Nothing of the entry was
 * written; the layer is refused (the rootfs is left partly unpacked: discard it).
 */
export class LayerEscapeError extends TsbakError {
  /** The layer's label, e.g. `layer 2 (sha256:abcd…) of app:1`. */
  readonly layer: string;
  /** The entry's name as the tar has it (readable text). */
  readonly entry: string;
  constructor(layer: string, entry: string, how?: string) {
    super(`${layer}: entry ${JSON.stringify(entry)} escapes the root filesystem${how ? ` (${how})` : ''}; refused`);
    this.layer = layer;
    this.entry = entry;
  }
}

/** A layer that is not a well-formed tar, or an entry no layer may hold (an empty name, a hard link to nothing). */
export class LayerFormatError extends TsbakError {}

/** An entry that could not be written (a failed system call, no space left); the message names the layer and the entry. */
export class LayerApplyError extends TsbakError {
  readonly layer: string;
  readonly entry: string | undefined;
  constructor(layer: string, entry: string | undefined, message: string, options: { cause?: unknown } = {}) {
    super(`${layer}: ${entry !== undefined ? `entry ${JSON.stringify(entry)}: ` : ''}${message}`, options);
    this.layer = layer;
    this.entry = entry;
  }
}
