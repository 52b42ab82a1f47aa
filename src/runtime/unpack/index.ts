/**
 * Secure unpacking of OCI image layers into a root filesystem: see apply.ts for
 * the semantics and root.ts for the resolution policy.
 */
export { applyLayer, unpackImage, emptyStats } from './apply.js';
export type { ApplyLayerOptions, ImageUnpackStats, LayerInput, LayerStats, LayerStream } from './apply.js';
export { LayerApplyError, LayerEscapeError, LayerFormatError } from './errors.js';
