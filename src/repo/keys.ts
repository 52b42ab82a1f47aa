/**
 * Key files (`keys/<name>`): the repository's master key wrapped under a key derived
 * from one password by scrypt. One file per password; any of them opens the
 * repository. A key file is stored as it is (it is the root of trust, not sealed
 * by the codec) and named by the sha256 of its bytes, so a damaged one is told apart
 * from a wrong password.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { Objects } from './objects.js';
import type { MasterKey } from './crypto.js';
import { CorruptDataError, TsbakError, errorMessage } from '../errors.js';

/** No key file opens with the password given: exit 12 (restic's). */
export class WrongPasswordError extends TsbakError {
  constructor(message: string) {
    super(message, { exitCode: 12 });
  }
}

export interface KeyFile {
  version: 1;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  /** base64 */
  salt: string;
  created: string;
  hostname: string;
  username: string;
  /** base64 of nonce (12) | AES-256-GCM ciphertext of the master key JSON | tag (16). */
  data: string;
}

export interface KeyInfo {
  name: string;
  created: string;
  hostname: string;
  username: string;
}

/** scrypt cost: N = 2^15, r = 8, p = 1 (32 MiB, ~0.1 s); TSBAK_SCRYPT_N lowers N for tests. */
function defaultN(): number {
  const env = Number(process.env.TSBAK_SCRYPT_N);
  return Number.isInteger(env) && env >= 1024 ? env : 1 << 15;
}

function scrypt(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  const options: ScryptOptions = { N, r, p, maxmem: 256 * N * r + (1 << 20) };
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFC'), salt, 32, options, (err, key) => (err ? reject(err) : resolve(key))));
}

const AAD = Buffer.from('tsbak-key-file');

export async function wrapMasterKey(master: MasterKey, password: string): Promise<Buffer> {
  const N = defaultN();
  const salt = randomBytes(32);
  const kek = await scrypt(password, salt, N, 8, 1);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, iv);
  c.setAAD(AAD);
  const plain = Buffer.from(JSON.stringify({ encrypt: master.encrypt.toString('base64'), mac: master.mac.toString('base64') }));
  const data = Buffer.concat([iv, c.update(plain), c.final(), c.getAuthTag()]);
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry
  }
  const file: KeyFile = {
    version: 1,
    kdf: 'scrypt',
    N,
    r: 8,
    p: 1,
    salt: salt.toString('base64'),
    created: new Date().toISOString(),
    hostname: hostname(),
    username: user,
    data: data.toString('base64'),
  };
  return Buffer.from(JSON.stringify(file, null, 1) + '\n');
}

/** Write a new key file for `password`; returns its name. */
export async function addKey(objects: Objects, master: MasterKey, password: string): Promise<string> {
  const buf = await wrapMasterKey(master, password);
  const name = createHash('sha256').update(buf).digest('hex');
  await objects.saveRaw({ type: 'key', name }, buf);
  return name;
}

function parseKeyFile(name: string, buf: Buffer): KeyFile {
  if (createHash('sha256').update(buf).digest('hex') !== name) throw new CorruptDataError(`key file keys/${name} does not match its name (corrupted or tampered)`);
  let file: KeyFile;
  try {
    file = JSON.parse(buf.toString('utf8')) as KeyFile;
  } catch (err) {
    throw new CorruptDataError(`key file keys/${name} is not valid JSON: ${errorMessage(err)}`);
  }
  if (file.version !== 1 || file.kdf !== 'scrypt') throw new CorruptDataError(`key file keys/${name} has an unknown version or KDF`);
  return file;
}

async function unwrap(file: KeyFile, password: string): Promise<MasterKey | undefined> {
  if (!(file.N >= 1024 && file.N <= 1 << 22 && file.r >= 1 && file.r <= 32 && file.p >= 1 && file.p <= 16)) return undefined;
  const kek = await scrypt(password, Buffer.from(file.salt, 'base64'), file.N, file.r, file.p);
  const data = Buffer.from(file.data, 'base64');
  if (data.length < 12 + 16) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', kek, data.subarray(0, 12));
    d.setAAD(AAD);
    d.setAuthTag(data.subarray(data.length - 16));
    const plain = Buffer.concat([d.update(data.subarray(12, data.length - 16)), d.final()]);
    const json = JSON.parse(plain.toString('utf8')) as { encrypt: string; mac: string };
    const master = { encrypt: Buffer.from(json.encrypt, 'base64'), mac: Buffer.from(json.mac, 'base64') };
    if (master.encrypt.length !== 32 || master.mac.length !== 32) return undefined;
    return master;
  } catch {
    return undefined;
  }
}

export async function listKeyNames(objects: Objects): Promise<string[]> {
  const names: string[] = [];
  for await (const name of objects.list('key')) if (/^[0-9a-f]{64}$/.test(name)) names.push(name);
  return names.sort();
}

/** Try every key file with the password; the master key and which file opened it. */
export async function openMasterKey(objects: Objects, password: string): Promise<{ master: MasterKey; keyName: string }> {
  const names = await listKeyNames(objects);
  if (names.length === 0) throw new CorruptDataError(`the repository at ${objects.location} is encrypted but has no key files in keys/ (damaged?)`);
  const damaged: string[] = [];
  for (const name of names) {
    let file: KeyFile;
    try {
      file = parseKeyFile(name, await objects.loadRaw({ type: 'key', name }));
    } catch (err) {
      if (!(err instanceof CorruptDataError)) throw err;
      damaged.push(err.message);
      continue;
    }
    const master = await unwrap(file, password);
    if (master) return { master, keyName: name };
  }
  const extra = damaged.length ? `; and ${damaged.join('; ')}` : '';
  throw new WrongPasswordError(`wrong password: no key in keys/ of ${objects.location} opens with this password${extra}`);
}

export async function keyInfos(objects: Objects): Promise<KeyInfo[]> {
  const out: KeyInfo[] = [];
  for (const name of await listKeyNames(objects)) {
    const file = parseKeyFile(name, await objects.loadRaw({ type: 'key', name }));
    out.push({ name, created: file.created, hostname: file.hostname, username: file.username });
  }
  return out;
}
