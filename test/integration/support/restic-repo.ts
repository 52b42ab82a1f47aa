// A throwaway restic repository whose snapshot documents the test writes itself.
//
// `restic backup --time` costs 0.65 s a snapshot on this VM (measured: key derivation and
// start-up), so a two-year history of thousands of snapshots would take most of an hour.
// Instead one real backup gives a tree, `restic cat masterkey` the repository keys, and
// each further snapshot is its JSON encrypted the way restic's design document describes
// (IV ‖ AES-256-CTR ciphertext ‖ Poly1305-AES MAC of the ciphertext), stored under the
// SHA-256 of those bytes. restic itself then reads and judges them.
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
export const RESTIC = '/usr/bin/restic';

interface MasterKey {
  mac: { k: string; r: string };
  encrypt: string;
}

export interface ResticSnapshotSpec {
  /** RFC 3339 with offset, as restic writes it. */
  time: string;
  hostname: string;
  tags: string[];
}

const P1305 = (1n << 130n) - 5n;

function leBigInt(buf: Buffer): bigint {
  let n = 0n;
  for (let i = buf.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(buf[i] as number);
  return n;
}

/** Poly1305-AES (Bernstein 2005): poly1305 with key r over msg, plus AES_k(nonce), mod 2^128. */
export function poly1305Aes(k: Buffer, r: Buffer, nonce: Buffer, msg: Buffer): Buffer {
  const clamp = leBigInt(Buffer.from('ffffff0ffcffff0ffcffff0ffcffff0f', 'hex'));
  const rr = leBigInt(r) & clamp;
  const aes = createCipheriv('aes-128-ecb', k, null).setAutoPadding(false);
  const s = leBigInt(Buffer.concat([aes.update(nonce), aes.final()]));
  let acc = 0n;
  for (let at = 0; at < msg.length; at += 16) {
    const block = msg.subarray(at, at + 16);
    const n = leBigInt(block) + (1n << BigInt(8 * block.length));
    acc = ((acc + n) * rr) % P1305;
  }
  let tag = (acc + s) % (1n << 128n);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) {
    out[i] = Number(tag & 0xffn);
    tag >>= 8n;
  }
  return out;
}

export class ResticRepo {
  private constructor(
    readonly dir: string,
    private readonly key: MasterKey,
    private readonly tree: string,
    private readonly paths: string[],
  ) {}

  static env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { ...process.env, RESTIC_PASSWORD: 'x', RESTIC_CACHE_DIR: '', ...extra };
  }

  /** A new repository in `dir` with one real snapshot of `data` (removed again), for its tree. */
  static async create(dir: string, data: string): Promise<ResticRepo> {
    const env = ResticRepo.env();
    await execFileP(RESTIC, ['-r', dir, 'init', '-q', '--no-cache'], { env });
    await execFileP(RESTIC, ['-r', dir, 'backup', '-q', '--no-cache', '--host', 'seed', data], { env });
    const { stdout: listed } = await execFileP(RESTIC, ['-r', dir, 'snapshots', '--json', '--no-cache'], { env });
    const seed = (JSON.parse(listed) as { id: string; tree: string; paths: string[] }[])[0];
    if (!seed) throw new Error('restic made no seed snapshot');
    const { stdout: key } = await execFileP(RESTIC, ['-r', dir, 'cat', 'masterkey', '--no-cache'], { env });
    await execFileP(RESTIC, ['-r', dir, 'forget', '-q', '--no-cache', seed.id], { env });
    return new ResticRepo(dir, JSON.parse(key) as MasterKey, seed.tree, seed.paths);
  }

  private encrypt(plain: Buffer): Buffer {
    const iv = randomBytes(16);
    const c = createCipheriv('aes-256-ctr', Buffer.from(this.key.encrypt, 'base64'), iv);
    const ciphertext = Buffer.concat([c.update(plain), c.final()]);
    const mac = poly1305Aes(Buffer.from(this.key.mac.k, 'base64'), Buffer.from(this.key.mac.r, 'base64'), iv, ciphertext);
    return Buffer.concat([iv, ciphertext, mac]);
  }

  /** Write snapshot documents as restic would; returns their ids. */
  writeSnapshots(specs: ResticSnapshotSpec[]): string[] {
    mkdirSync(path.join(this.dir, 'snapshots'), { recursive: true });
    return specs.map((s) => {
      const doc = { time: s.time, tree: this.tree, paths: this.paths, hostname: s.hostname, username: 'root', ...(s.tags.length ? { tags: s.tags } : {}) };
      const file = this.encrypt(Buffer.from(JSON.stringify(doc)));
      const id = createHash('sha256').update(file).digest('hex');
      writeFileSync(path.join(this.dir, 'snapshots', id), file);
      return id;
    });
  }

  /** A real `restic backup --time` (slow: for cross-checking the written documents). */
  async backup(data: string, spec: { time: string; hostname: string; tags: string[] }, env: Record<string, string>): Promise<void> {
    const args = ['-r', this.dir, 'backup', '-q', '--no-cache', '--time', spec.time, '--host', spec.hostname, ...spec.tags.flatMap((t) => ['--tag', t]), data];
    await execFileP(RESTIC, args, { env: ResticRepo.env(env) });
  }

  async forgetDryRun(policy: string[], env: Record<string, string>): Promise<ResticForgetGroup[]> {
    const { stdout } = await execFileP(RESTIC, ['-r', this.dir, 'forget', '--no-cache', '--no-lock', '--dry-run', '--json', ...policy], {
      env: ResticRepo.env(env),
      maxBuffer: 256 * 1024 * 1024,
    });
    return JSON.parse(stdout.trim() || '[]') as ResticForgetGroup[];
  }
}

export interface ResticSnapshotJson {
  time: string;
  hostname: string;
  tags?: string[];
}

export interface ResticForgetGroup {
  host: string;
  keep: ResticSnapshotJson[] | null;
  remove: ResticSnapshotJson[] | null;
  reasons: { snapshot: ResticSnapshotJson; matches: string[]; counters: Record<string, number> }[] | null;
}
