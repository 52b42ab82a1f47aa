// An S3-compatible server (s3rver from npm) on loopback, in this process.
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import S3rver from 's3rver';
import { once, removeTree } from './util.js';

export interface S3Server {
  /** `http://127.0.0.1:PORT`; clients must use path-style addressing. */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  dir: string;
  stop(): Promise<void>;
}

export const S3_BUCKET = 'tsbak-test';

/** Starts s3rver on 127.0.0.1 with a free port, storing under `baseDir`, with bucket `tsbak-test` created. */
export async function startS3(baseDir: string): Promise<S3Server> {
  const dir = mkdtempSync(path.join(baseDir, 's3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory: dir,
    silent: true,
    // Virtual-host buckets would treat "127.0.0.1" as a bucket name.
    vhostBuckets: false,
    configureBuckets: [{ name: S3_BUCKET }],
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket: S3_BUCKET,
    // s3rver's fixed credentials.
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    region: 'us-east-1',
    dir,
    stop: once(async () => {
      // Keep-alive connections from a test would hold close() open.
      server.httpServer?.closeAllConnections();
      await server.close();
      await removeTree(dir);
    }),
  };
}
