import type { Digest } from '../util/digest.js';

export type QuiesceMode = 'freeze' | 'stop' | 'none';

/** How one container was quiesced while its volume was copied. */
export interface QuiesceRecord {
  container: string;
  mode: QuiesceMode;
  /** Freeze: how long it stood still (ms), and through which cgroup interface. */
  windowMs?: number;
  cgroup?: 'v1' | 'v2';
}

/** A volume as the snapshot keeps it. */
export interface VolumeRecord {
  name: string;
  driver: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** Root tree of the volume's content. */
  tree: Digest;
  stats: { files: number; dirs: number; others: number; bytes: number; readBytes: number; newChunks: number; newBytes: number; reusedFiles: number };
  /** precopy: copy, freeze, copy the changes; reflink: freeze, clone, thaw, copy the clone; plain: no freeze. */
  method: 'precopy' | 'reflink' | 'plain';
  quiesce: QuiesceRecord[];
  warnings: { path: string; message: string }[];
}
