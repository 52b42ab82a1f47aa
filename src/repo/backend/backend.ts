import type { Readable } from 'node:stream';

/**
 * Where repository objects live. Keys are slash-separated relative names such
 * as `blobs/sha256/ab/ab12…`. Every write is atomic: a reader sees the whole
 * object or none of it. The repository format is layered on top; a backend
 * knows nothing about it.
 */
export interface Backend {
  /** Human-readable location, for messages. */
  readonly location: string;
  /** True when the repository root exists (it may be empty). */
  exists(): Promise<boolean>;
  /** Create the root (directory, or nothing for S3). */
  create(): Promise<void>;
  stat(key: string): Promise<{ size: number } | undefined>;
  /** Open an object for reading; throws NotFoundError when absent. */
  read(key: string): Promise<Readable>;
  readBuffer(key: string): Promise<Buffer>;
  /** `length` bytes of an object from `offset` (a ranged read); throws CorruptDataError when the object is shorter. */
  readRange(key: string, offset: number, length: number): Promise<Buffer>;
  /** Publish the content of a local file under key. The file may be moved away. */
  writeFile(key: string, localPath: string): Promise<void>;
  writeBuffer(key: string, data: Buffer): Promise<void>;
  /** Keys under a prefix (recursively), in no particular order. */
  list(prefix: string): AsyncIterable<string>;
  remove(key: string): Promise<void>;
  /** A local directory for staging files before writeFile (same filesystem when local). */
  stagingDir(): Promise<string>;
}
