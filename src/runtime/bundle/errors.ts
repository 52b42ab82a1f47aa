import { TsbakError } from '../../errors.js';

/** An image's or container's `User` that cannot be resolved against the image's /etc/passwd and /etc/group. */
export class ImageUserError extends TsbakError {}

/** A container definition and image that do not make a runnable OCI bundle (nothing to run, a bad path). */
export class RuntimeSpecError extends TsbakError {}
