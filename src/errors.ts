/**
 * Typed errors. Every error a user can see carries a message that names the
 * thing that failed and, where there is one, the fix. The exit code follows the
 * command contract: 1 failed, 2 usage, 3 partial (11, repository locked, is reserved
 * for the lock that prune will take; no command raises it yet).
 */
export class TsbakError extends Error {
  readonly exitCode: number;
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Wrong flags or arguments: exit 2. */
export class UsageError extends TsbakError {
  constructor(message: string) {
    super(message, { exitCode: 2 });
  }
}

/** A snapshot, blob, image or other named thing does not exist. */
export class NotFoundError extends TsbakError {}

/** Data did not match its digest, or a document is malformed. */
export class CorruptDataError extends TsbakError {}

/** An archive could not be read as a docker save or OCI archive. */
export class ArchiveError extends TsbakError {}

/** The Docker engine is unreachable or answered with an error. */
export class EngineError extends TsbakError {
  readonly statusCode: number | undefined;
  constructor(message: string, options: { statusCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.statusCode = options.statusCode;
  }
}

/** The repository is missing, of an unknown version, or unreadable. */
export class RepositoryError extends TsbakError {}

/** Some items failed and the rest are safe: exit 3. */
export class PartialFailureError extends TsbakError {
  readonly failures: { item: string; error: string }[];
  constructor(message: string, failures: { item: string; error: string }[]) {
    super(message, { exitCode: 3 });
    this.failures = failures;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True for a Node system error with the given code (ENOENT, EEXIST, ...). */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
