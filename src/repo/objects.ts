/**
 * Repository objects by handle: the Backend below (bytes under keys), the Codec
 * (compress + seal) and the Layout (handle → key) above. Every object a repository
 * reads or writes goes through here.
 */
import { Readable } from 'node:stream';
import type { Backend } from './backend/backend.js';
import type { Codec } from './codec.js';
import { handleString, type FileType, type Handle, type Layout } from './format.js';
import { sha256 } from '../util/digest.js';
import { CorruptDataError, TsbakError } from '../errors.js';

export class Objects {
  constructor(
    readonly backend: Backend,
    readonly layout: Layout,
    readonly codec: Codec,
  ) {}

  get location(): string {
    return this.backend.location;
  }

  /** The backend key of a handle (for messages and staging-file publication). */
  key(h: Handle): string {
    return this.layout.key(h);
  }

  async save(h: Handle, plain: Buffer): Promise<void> {
    await this.backend.writeBuffer(this.layout.key(h), this.codec.encode(h, plain));
  }

  /** Save an object named by its content (an index file, a snapshot); returns the name. */
  async saveContent(type: FileType, plain: Buffer): Promise<string> {
    const name = this.codec.nameOf(sha256(plain));
    await this.save({ type, name }, plain);
    return name;
  }

  async load(h: Handle): Promise<Buffer> {
    return this.codec.decode(h, await this.backend.readBuffer(this.layout.key(h)));
  }

  /** Load an object named by its content, checking that it still matches its name. */
  async loadContent(h: Handle): Promise<Buffer> {
    const plain = await this.load(h);
    if (this.codec.nameOf(sha256(plain)) !== h.name) throw new CorruptDataError(`${handleString(h)} does not match its name (repository corrupted? run \`tsbak check\`)`);
    return plain;
  }

  /** Write an object as it is, outside the codec (key files: the root of trust). */
  async saveRaw(h: Handle, data: Buffer): Promise<void> {
    await this.backend.writeBuffer(this.layout.key(h), data);
  }

  async loadRaw(h: Handle): Promise<Buffer> {
    return this.backend.readBuffer(this.layout.key(h));
  }

  /** Publish a staged local file that already holds the encoded object (the file may be moved away). */
  async publishFile(h: Handle, localPath: string): Promise<void> {
    await this.backend.writeFile(this.layout.key(h), localPath);
  }

  /** A large object's content, decoded as it streams (bounded memory); errors name the object. */
  async openStream(h: Handle): Promise<Readable> {
    const stored = await this.backend.read(this.layout.key(h));
    const stages = this.codec.decodeStream(h);
    const what = handleString(h);
    const last = stages[stages.length - 1] as NodeJS.ReadWriteStream & Readable;
    const fail = (err: Error) => last.destroy(err instanceof TsbakError ? err : new CorruptDataError(`${what} cannot be decoded: ${err.message}`));
    let src: Readable = stored;
    stored.on('error', fail);
    for (const stage of stages) {
      if (stage !== last) stage.on('error', fail);
      src = src.pipe(stage);
    }
    last.on('error', () => stored.destroy());
    return last;
  }

  /** Raw stored bytes of part of an object (a pack's blob or trailer). */
  readRange(h: Handle, offset: number, length: number): Promise<Buffer> {
    return this.backend.readRange(this.layout.key(h), offset, length);
  }

  /** One blob sealed on its own inside a pack: a ranged read, then decode. */
  async loadPacked(pack: string, blob: Handle, offset: number, length: number): Promise<Buffer> {
    return this.codec.decode(blob, await this.readRange({ type: 'pack', name: pack }, offset, length));
  }

  async stat(h: Handle): Promise<{ size: number } | undefined> {
    return this.backend.stat(this.layout.key(h));
  }

  async remove(h: Handle): Promise<void> {
    await this.backend.remove(this.layout.key(h));
  }

  /** Names of every object of a type (foreign keys under its prefix are skipped). */
  async *list(type: FileType): AsyncIterable<string> {
    for await (const key of this.backend.list(this.layout.prefix(type))) {
      const name = this.layout.nameOf(type, key);
      if (name !== undefined) yield name;
    }
  }

  stagingDir(): Promise<string> {
    return this.backend.stagingDir();
  }
}
