import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError, errorMessage, isErrno } from '../../errors.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** One challenge of a `WWW-Authenticate` header: scheme (lowercased) and its parameters. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parse `WWW-Authenticate` (RFC 7235): one or more `Scheme k=v, k="quoted"`
 * challenges separated by commas. Parameter names are lowercased.
 */
export function parseChallenges(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t' || header[i] === ',')) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && !/[\s,=]/.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  let current: AuthChallenge | undefined;
  while (i < n) {
    skipSpace();
    if (i >= n) break;
    const word = token();
    let j = i;
    while (j < n && (header[j] === ' ' || header[j] === '\t')) j++;
    if (header[j] === '=' && current) {
      i = j + 1;
      while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        const start = i;
        while (i < n && header[i] !== ',') i++;
        value = header.slice(start, i).trim();
      }
      current.params[word.toLowerCase()] = value;
    } else if (word !== '') {
      current = { scheme: word.toLowerCase(), params: {} };
      out.push(current);
    } else {
      i++;
    }
  }
  return out;
}

/** The Docker config directory: DOCKER_CONFIG, else ~/.docker. */
export function dockerConfigDir(): string {
  return process.env.DOCKER_CONFIG || join(homedir(), '.docker');
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** The host part of an `auths` key: `https://host:5000/v1/` → `host:5000`. */
function keyHost(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
}

/** Names Docker Hub credentials may be stored under. */
function hostAliases(host: string): string[] {
  const h = host.toLowerCase();
  if (h === 'docker.io' || h === 'index.docker.io' || h === 'registry-1.docker.io') return ['index.docker.io', 'docker.io', 'registry-1.docker.io'];
  return [h];
}

/**
 * Credentials for `host` from the Docker CLI's config.json (as `docker login`
 * leaves them): an `auths` entry (base64 `user:password` in `auth`, or
 * username/password), else a credential helper (`credHelpers[host]` or
 * `credsStore`) run as `docker-credential-NAME get`. Undefined when none.
 */
export async function dockerConfigCredentials(host: string, configDir: string = dockerConfigDir()): Promise<RegistryCredentials | undefined> {
  const path = join(configDir, 'config.json');
  let config: DockerConfigFile;
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as DockerConfigFile;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new UsageError(`cannot read registry credentials from ${path}: ${errorMessage(err)}`);
  }
  const aliases = hostAliases(host);
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (!aliases.includes(keyHost(key)) || !entry) continue;
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) throw new UsageError(`the "auth" entry for ${key} in ${path} is not base64 of user:password; run \`docker login ${host}\` again`);
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  }
  const helper = aliases.map((a) => config.credHelpers?.[a]).find((h) => h) ?? config.credsStore;
  if (helper) return credentialHelper(helper, aliases[0] === 'index.docker.io' ? 'https://index.docker.io/v1/' : host);
  return undefined;
}

/** Ask `docker-credential-NAME get` (the Docker credential helper protocol); undefined when it has nothing. */
function credentialHelper(name: string, serverUrl: string): Promise<RegistryCredentials | undefined> {
  if (!/^[\w.-]+$/.test(name)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const child = spawn(`docker-credential-${name}`, ['get'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      if (code !== 0) return resolve(undefined);
      try {
        const doc = JSON.parse(Buffer.concat(out).toString('utf8')) as { Username?: string; Secret?: string };
        resolve(doc.Username && doc.Secret && doc.Username !== '<token>' ? { username: doc.Username, password: doc.Secret } : undefined);
      } catch {
        resolve(undefined);
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(serverUrl);
  });
}

export function basicAuthorization(creds: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

/** The token service's answer (Docker token spec; some services say access_token). */
export interface TokenResponse {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
}

/** `repository:NAME:ACTIONS` as the token spec writes scopes. */
export function repositoryScope(repository: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}
