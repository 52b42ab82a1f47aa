import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { S3Client as S3ClientType } from '@aws-sdk/client-s3';
import type { Backend } from './backend.js';
import { NotFoundError, RepositoryError, errorMessage } from '../../errors.js';
import { readAll } from '../../util/streams.js';

export interface S3Location {
  bucket: string;
  prefix: string;
  endpoint: string | undefined;
}

/** `s3://BUCKET/PREFIX` → bucket and prefix (no leading or trailing slash). */
export function parseS3Url(url: string, endpoint: string | undefined): S3Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m?.[1]) throw new RepositoryError(`"${url}" is not an S3 repository URL: use s3://BUCKET/PREFIX`);
  return { bucket: m[1], prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, ''), endpoint };
}

/** Above this size a file is uploaded in parts (lib-storage); below, one PUT. */
const MULTIPART_THRESHOLD = 32 << 20;

/**
 * A repository in an S3 bucket under a prefix. Objects appear whole (a single
 * PUT or a completed multipart upload), so every write is atomic. Conditional
 * writes are not relied on: s3rver ignores them (DESIGN.md).
 */
export class S3Backend implements Backend {
  readonly location: string;
  private clientPromise: Promise<{ client: S3ClientType; sdk: typeof import('@aws-sdk/client-s3') }> | undefined;

  constructor(private readonly where: S3Location) {
    this.location = `s3://${where.bucket}/${where.prefix}`;
  }

  /** Load the SDK only when an S3 repository is used: it is large, and it warns on Node 20. */
  private async s3(): Promise<{ client: S3ClientType; sdk: typeof import('@aws-sdk/client-s3') }> {
    this.clientPromise ??= (async () => {
      silenceSdkNodeWarning();
      const sdk = await import('@aws-sdk/client-s3');
      const client = new sdk.S3Client({
        forcePathStyle: true,
        region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1',
        ...(this.where.endpoint ? { endpoint: this.where.endpoint } : {}),
        maxAttempts: 4,
        // Default checksums make streamed PUTs aws-chunked with a trailer, which
        // s3rver stores verbatim; every object is verified by its sha256 on read anyway.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      return { client, sdk };
    })();
    return this.clientPromise;
  }

  private key(key: string): string {
    return this.where.prefix ? `${this.where.prefix}/${key}` : key;
  }

  private wrap(err: unknown, action: string): Error {
    const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    const code = e.code ?? e.name ?? '';
    if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|TimeoutError/.test(`${code} ${errorMessage(err)}`)) {
      return new RepositoryError(`S3 endpoint ${this.where.endpoint ?? 'of AWS'} is not reachable (${code || errorMessage(err)}) while trying to ${action}; check --s3-endpoint / AWS_ENDPOINT_URL_S3`, { cause: err });
    }
    if (status === 403 || code === 'AccessDenied' || code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch') {
      return new RepositoryError(`S3 refused access to ${this.location} (${code}) while trying to ${action}; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile`, { cause: err });
    }
    if (code === 'NoSuchBucket') return new RepositoryError(`S3 bucket ${this.where.bucket} does not exist (create it first)`, { cause: err });
    return new RepositoryError(`S3 ${action} in ${this.location} failed: ${code ? `${code}: ` : ''}${errorMessage(err)}`, { cause: err });
  }

  async exists(): Promise<boolean> {
    const { client, sdk } = await this.s3();
    try {
      await client.send(new sdk.HeadBucketCommand({ Bucket: this.where.bucket }));
      return true;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return false;
      throw this.wrap(err, 'check the bucket');
    }
  }

  async create(): Promise<void> {
    if (!(await this.exists())) throw new RepositoryError(`S3 bucket ${this.where.bucket} does not exist (create it first)`);
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    const { client, sdk } = await this.s3();
    try {
      const head = await client.send(new sdk.HeadObjectCommand({ Bucket: this.where.bucket, Key: this.key(key) }));
      return { size: head.ContentLength ?? 0 };
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return undefined;
      throw this.wrap(err, `stat ${key}`);
    }
  }

  async read(key: string, range?: { offset: number; length: number }): Promise<Readable> {
    const { client, sdk } = await this.s3();
    try {
      const res = await client.send(
        new sdk.GetObjectCommand({
          Bucket: this.where.bucket,
          Key: this.key(key),
          ...(range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {}),
        }),
      );
      return res.Body as Readable;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.$metadata?.httpStatusCode === 404 || e.name === 'NoSuchKey') throw new NotFoundError(`repository object ${key} is missing from ${this.location}`);
      throw this.wrap(err, `read ${key}`);
    }
  }

  async readBuffer(key: string): Promise<Buffer> {
    return readAll(await this.read(key), 1 << 30, `${this.location}/${key}`);
  }

  async readRange(key: string, offset: number, length: number): Promise<Buffer> {
    return readAll(await this.read(key, { offset, length }), length, `${this.location}/${key}`);
  }

  async writeFile(key: string, localPath: string): Promise<void> {
    const { client, sdk } = await this.s3();
    const size = (await stat(localPath)).size;
    try {
      if (size <= MULTIPART_THRESHOLD) {
        await client.send(
          new sdk.PutObjectCommand({ Bucket: this.where.bucket, Key: this.key(key), Body: createReadStream(localPath), ContentLength: size }),
        );
      } else {
        const { Upload } = await import('@aws-sdk/lib-storage');
        // Parts are buffered by lib-storage: 4 × 16 MiB bounds the memory an upload takes.
        const upload = new Upload({
          client,
          params: { Bucket: this.where.bucket, Key: this.key(key), Body: createReadStream(localPath) },
          partSize: 16 << 20,
          queueSize: 4,
        });
        await upload.done();
      }
    } catch (err) {
      throw this.wrap(err, `write ${key}`);
    }
    await rm(localPath, { force: true });
  }

  async writeBuffer(key: string, data: Buffer): Promise<void> {
    const { client, sdk } = await this.s3();
    try {
      await client.send(new sdk.PutObjectCommand({ Bucket: this.where.bucket, Key: this.key(key), Body: data, ContentLength: data.length }));
    } catch (err) {
      throw this.wrap(err, `write ${key}`);
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const { client, sdk } = await this.s3();
    const base = this.key(prefix.replace(/\/$/, '')) + '/';
    const strip = this.where.prefix ? this.where.prefix.length + 1 : 0;
    let token: string | undefined;
    do {
      let page;
      try {
        page = await client.send(new sdk.ListObjectsV2Command({ Bucket: this.where.bucket, Prefix: base, ContinuationToken: token }));
      } catch (err) {
        throw this.wrap(err, `list ${prefix}`);
      }
      for (const obj of page.Contents ?? []) if (obj.Key) yield obj.Key.slice(strip);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async remove(key: string): Promise<void> {
    const { client, sdk } = await this.s3();
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.where.bucket, Key: this.key(key) }));
    } catch (err) {
      throw this.wrap(err, `remove ${key}`);
    }
  }

  async stagingDir(): Promise<string> {
    const dir = join(process.env.TSBAK_STAGING_DIR || tmpdir(), `tsbak-staging-${process.getuid?.() ?? 'user'}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
}

/**
 * The AWS SDK warns on every process that runs Node 20 that future versions
 * will need Node 22; that notice is for developers, not for a user's terminal
 * or a cron mail, so it is dropped (every other warning passes through).
 */
function silenceSdkNodeWarning(): void {
  const original = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : `${warning.name} ${warning.message}`;
    if (/NodeVersionSupportWarning|AWS SDK for JavaScript \(v3\)/.test(text) || (typeof rest[0] === 'string' && rest[0] === 'NodeVersionSupportWarning')) return;
    (original as (...args: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;
}
