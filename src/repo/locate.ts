import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Backend } from './backend/backend.js';
import { LocalBackend } from './backend/local.js';
import { S3Backend, parseS3Url } from './backend/s3.js';
import { UsageError } from '../errors.js';

/** The embedded default repository: system-wide for root, per user otherwise. */
export function defaultRepositoryPath(): string {
  if (process.getuid?.() === 0) return '/var/lib/tsbak/repo';
  const dataHome = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(dataHome, 'tsbak', 'repo');
}

export interface RepositoryLocation {
  url: string;
  /** True when neither --repo nor TSBAK_REPOSITORY named it: created on first use. */
  isDefault: boolean;
}

export function repositoryLocation(flag: string | undefined): RepositoryLocation {
  const given = flag || process.env.TSBAK_REPOSITORY;
  if (given) return { url: given, isDefault: false };
  return { url: defaultRepositoryPath(), isDefault: true };
}

export function openBackend(url: string, options: { s3Endpoint?: string | undefined } = {}): Backend {
  if (url.startsWith('s3://')) {
    return new S3Backend(parseS3Url(url, options.s3Endpoint || process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined));
  }
  const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) throw new UsageError(`unknown repository URL scheme in "${url}": use a directory path or s3://BUCKET/PREFIX`);
  return new LocalBackend(resolve(path));
}
