import { mkdir, open, readdir, readFile, rename, rm, stat, copyFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Backend } from './backend.js';
import { CorruptDataError, NotFoundError, RepositoryError, isErrno } from '../../errors.js';

const STAGING = 'tmp';

/** A repository in a local directory. Writes are temp file + fsync + rename + fsync(dir). */
export class LocalBackend implements Backend {
  readonly location: string;
  constructor(private readonly root: string) {
    this.location = root;
  }

  private path(key: string): string {
    if (key.split('/').some((part) => part === '..' || part === '')) {
      throw new RepositoryError(`invalid repository key "${key}"`);
    }
    return join(this.root, ...key.split('/'));
  }

  async exists(): Promise<boolean> {
    try {
      return (await stat(this.root)).isDirectory();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async create(): Promise<void> {
    await mkdir(join(this.root, STAGING), { recursive: true, mode: 0o700 });
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.path(key));
      return { size: s.size };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async read(key: string): Promise<Readable> {
    const path = this.path(key);
    const handle = await open(path, 'r').catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) throw new NotFoundError(`repository object ${key} is missing from ${this.root}`);
      throw err;
    });
    return handle.createReadStream({ highWaterMark: 1 << 20 });
  }

  async readBuffer(key: string): Promise<Buffer> {
    try {
      return await readFile(this.path(key));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new NotFoundError(`repository object ${key} is missing from ${this.root}`);
      throw err;
    }
  }

  async readRange(key: string, offset: number, length: number): Promise<Buffer> {
    const handle = await open(this.path(key), 'r').catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) throw new NotFoundError(`repository object ${key} is missing from ${this.root}`);
      throw err;
    });
    try {
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await handle.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < length) {
        throw new CorruptDataError(`repository object ${key} in ${this.root} ends before byte ${offset + length} (truncated? run \`tsbak check\`)`);
      }
      return buf;
    } finally {
      await handle.close();
    }
  }

  async writeFile(key: string, localPath: string): Promise<void> {
    const target = this.path(key);
    await fsyncFile(localPath);
    await mkdir(dirname(target), { recursive: true });
    try {
      await rename(localPath, target);
    } catch (err) {
      if (!isErrno(err, 'EXDEV')) throw err;
      // Staged on another filesystem: copy next to the target, then rename.
      const tmp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
      await copyFile(localPath, tmp);
      await fsyncFile(tmp);
      await rename(tmp, target);
      await unlink(localPath);
    }
    await fsyncDir(dirname(target));
  }

  async writeBuffer(key: string, data: Buffer): Promise<void> {
    const staging = await this.stagingDir();
    const tmp = join(staging, `w-${randomBytes(8).toString('hex')}`);
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await this.writeFile(key, tmp);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const base = prefix.replace(/\/$/, '');
    yield* walk(this.path(base), base);
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async stagingDir(): Promise<string> {
    const dir = join(this.root, STAGING);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
}

async function* walk(dir: string, keyPrefix: string): AsyncIterable<string> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  for (const entry of entries) {
    const key = `${keyPrefix}/${entry.name}`;
    if (entry.isDirectory()) yield* walk(join(dir, entry.name), key);
    else if (entry.isFile() && !entry.name.includes('.tmp-')) yield key;
  }
}

async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
    if (!isErrno(err, 'EINVAL') && !isErrno(err, 'EISDIR')) throw err;
  } finally {
    await handle.close();
  }
}

