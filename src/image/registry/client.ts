import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { CorruptDataError, errorMessage } from '../../errors.js';
import { sha256, type Digest } from '../../util/digest.js';
import { VERSION } from '../../version.js';
import {
  basicAuthorization,
  dockerConfigCredentials,
  dockerConfigDir,
  parseChallenges,
  repositoryScope,
  type RegistryCredentials,
  type TokenResponse,
} from './auth.js';
import { RegistryError, describeErrorBody } from './errors.js';
import { apiHost, isLoopbackHost } from './reference.js';
import { MediaType } from '../model.js';

export type { RegistryCredentials } from './auth.js';

export interface RegistryClientOptions {
  /** Allow plain HTTP to a host that is not loopback (`--insecure-registry`). */
  insecure?: boolean;
  /** Explicit credentials (`--registry-user` + `--registry-password-stdin`); else the Docker config's. */
  credentials?: RegistryCredentials;
  /** Where config.json lives; default DOCKER_CONFIG, else ~/.docker. */
  dockerConfigDir?: string;
  /** Extra attempts for idempotent requests after a transient failure (default 2). */
  retries?: number;
}

/** Counters of what the client did, for results and tests. */
export interface RegistryStats {
  requests: number;
  blobHeads: number;
  blobUploads: number;
  uploadedBytes: number;
  mounts: number;
  blobDownloads: number;
  manifestGets: number;
  manifestPuts: number;
  tokenRequests: number;
}

/** Manifest media types we ask for, best first. */
export const MANIFEST_ACCEPT = [MediaType.ociManifest, MediaType.dockerManifest, MediaType.ociIndex, MediaType.dockerManifestList];

/** The registry's limit for manifests (distribution refuses larger ones). */
const MANIFEST_LIMIT = 4 << 20;
const ERROR_BODY_LIMIT = 64 << 10;
const MAX_REDIRECTS = 5;

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Actions = 'pull' | 'pull,push';

interface RequestSpec {
  method: Method;
  /** A path under the registry (`/v2/…`) or an absolute URL (upload locations). */
  url: string;
  /** The repository the request is about, for scopes and messages; undefined for /v2/. */
  repository?: string;
  actions?: Actions;
  /** Extra scopes (cross-repository mounts need pull on the source). */
  extraScopes?: string[];
  headers?: Record<string, string>;
  /** A body factory, so a request can be sent again after a 401 or a transient failure. */
  body?: () => Promise<Buffer | Readable> | Buffer;
  /** Whether the request may be repeated after a transient failure. */
  idempotent?: boolean;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

type AuthScheme = { kind: 'none' } | { kind: 'basic' } | { kind: 'bearer'; realm: string; service?: string };

/**
 * An OCI distribution (Docker registry v2) client on Node's fetch. It pings
 * `/v2/` once to learn how the registry authenticates, then sends Basic
 * credentials or Bearer tokens (fetched per scope from the challenge's realm,
 * with Basic credentials when there are any, and cached until they expire).
 * Credentials go only to the registry's own origin, never to a redirect target.
 * Plain HTTP is used for loopback hosts and with `insecure`; HTTPS otherwise.
 */
export class RegistryClient {
  /** The host as named (`127.0.0.1:5000`, `docker.io`). */
  readonly host: string;
  /** `http://127.0.0.1:5000` */
  readonly baseUrl: string;
  readonly stats: RegistryStats = {
    requests: 0,
    blobHeads: 0,
    blobUploads: 0,
    uploadedBytes: 0,
    mounts: 0,
    blobDownloads: 0,
    manifestGets: 0,
    manifestPuts: 0,
    tokenRequests: 0,
  };
  private scheme: AuthScheme | undefined;
  private pinging: Promise<void> | undefined;
  private credentialsLookup: Promise<RegistryCredentials | undefined> | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly tokenFetches = new Map<string, Promise<string>>();
  /** Repositories of this registry known to hold a blob (pushed, found or pulled in this session): mount sources. */
  private readonly blobHomes = new Map<string, Set<string>>();
  private readonly retries: number;

  constructor(
    host: string,
    private readonly options: RegistryClientOptions = {},
  ) {
    this.host = host.toLowerCase();
    const plain = options.insecure === true || isLoopbackHost(this.host);
    this.baseUrl = `${plain ? 'http' : 'https'}://${apiHost(this.host)}`;
    this.retries = options.retries ?? 2;
  }

  /** Check that the registry answers the v2 API, and learn how it authenticates. */
  async ping(): Promise<void> {
    this.pinging ??= this.doPing().catch((err: unknown) => {
      this.pinging = undefined;
      throw err;
    });
    return this.pinging;
  }

  private async doPing(): Promise<void> {
    const res = await this.fetchOnce({ method: 'GET', url: '/v2/', idempotent: true }, undefined);
    if (res.status === 200) {
      await drain(res);
      this.scheme = { kind: 'none' };
      return;
    }
    if (res.status === 401) {
      this.learnChallenge(res.headers.get('www-authenticate'));
      await drain(res);
      return;
    }
    const body = await readText(res);
    throw new RegistryError(
      'protocol',
      `${this.baseUrl} does not answer as a registry (GET /v2/ gave HTTP ${res.status}${body ? `: ${body.slice(0, 200)}` : ''}); is ${this.host} an OCI registry?`,
      { statusCode: res.status },
    );
  }

  /** Size of a blob in a repository, or undefined when the repository does not have it. */
  async blobSize(repository: string, digest: Digest, actions: Actions = 'pull'): Promise<number | undefined> {
    this.stats.blobHeads++;
    const res = await this.send({ method: 'HEAD', url: `/v2/${repository}/blobs/${digest}`, repository, actions, idempotent: true });
    if (res.status === 404) {
      await drain(res);
      return undefined;
    }
    await this.check(res, [200], `blob ${digest} in ${repository}`, repository);
    await drain(res);
    this.noteBlob(repository, digest);
    const length = res.headers.get('content-length');
    return length === null ? -1 : Number(length);
  }

  /** Stream a blob as the registry sends it (compressed); the caller verifies its digest. */
  async getBlob(repository: string, digest: Digest): Promise<{ stream: Readable; size: number | undefined }> {
    this.stats.blobDownloads++;
    const res = await this.send({
      method: 'GET',
      url: `/v2/${repository}/blobs/${digest}`,
      repository,
      actions: 'pull',
      idempotent: true,
      headers: { 'accept-encoding': 'identity' },
    });
    await this.check(res, [200], `blob ${digest} of ${repository}`, repository);
    this.noteBlob(repository, digest);
    const length = res.headers.get('content-length');
    return { stream: bodyStream(res), size: length === null ? undefined : Number(length) };
  }

  /** Fetch a manifest or index by tag or digest; its digest is computed over the exact bytes. */
  async getManifest(
    repository: string,
    reference: string,
    accept: readonly string[] = MANIFEST_ACCEPT,
  ): Promise<{ bytes: Buffer; mediaType: string; digest: Digest }> {
    this.stats.manifestGets++;
    const res = await this.send({
      method: 'GET',
      url: `/v2/${repository}/manifests/${reference}`,
      repository,
      actions: 'pull',
      idempotent: true,
      headers: { accept: accept.join(', '), 'accept-encoding': 'identity' },
    });
    const what = reference.startsWith('sha256:') ? `manifest ${reference}` : `tag ${reference}`;
    await this.check(res, [200], `${what} of ${this.host}/${repository}`, repository);
    const bytes = await readLimited(res, MANIFEST_LIMIT, `manifest ${reference} of ${this.host}/${repository}`);
    const digest = sha256(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new CorruptDataError(`registry ${this.host} sent a manifest for ${repository}@${reference} whose content hashes to ${digest}`);
    }
    const claimed = res.headers.get('docker-content-digest');
    if (claimed && claimed !== digest) {
      throw new CorruptDataError(`registry ${this.host} says ${repository}:${reference} is ${claimed}, but the manifest it sent hashes to ${digest}`);
    }
    return { bytes, mediaType: manifestMediaType(res.headers.get('content-type'), bytes), digest };
  }

  /** Upload a manifest under a tag (or its digest); returns its digest. */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<Digest> {
    this.stats.manifestPuts++;
    const res = await this.send({
      method: 'PUT',
      url: `/v2/${repository}/manifests/${reference}`,
      repository,
      actions: 'pull,push',
      headers: { 'content-type': mediaType },
      body: () => bytes,
      idempotent: true,
    });
    await this.check(res, [200, 201, 202], `the manifest for ${repository}:${reference}`, repository);
    await drain(res);
    const digest = sha256(bytes);
    const claimed = res.headers.get('docker-content-digest');
    if (claimed && claimed !== digest) {
      throw new RegistryError('protocol', `registry ${this.host} stored the manifest for ${repository}:${reference} as ${claimed}, but its content hashes to ${digest}`);
    }
    return digest;
  }

  /**
   * Put a blob into a repository: mounted from `mountFrom` (another repository
   * of this registry) when it has it, else uploaded (POST, then one PUT with
   * the whole content and its digest). `open` is called again if the upload
   * has to restart after a transient failure.
   */
  async uploadBlob(
    repository: string,
    digest: Digest,
    size: number,
    open: () => Promise<Readable>,
    options: { mountFrom?: string } = {},
  ): Promise<'mounted' | 'uploaded'> {
    let mountFrom = options.mountFrom;
    for (let attempt = 0; ; attempt++) {
      try {
        let started: 'mounted' | string;
        try {
          started = await this.startUpload(repository, digest, mountFrom);
        } catch (err) {
          // No read access to the mount source (or a registry that fumbles mounts): upload instead.
          if (mountFrom === undefined || !(err instanceof RegistryError) || !['auth', 'denied', 'rejected', 'not-found'].includes(err.kind)) throw err;
          mountFrom = undefined;
          started = await this.startUpload(repository, digest, undefined);
        }
        if (started === 'mounted') {
          this.stats.mounts++;
          this.noteBlob(repository, digest);
          return 'mounted';
        }
        await this.completeUpload(repository, started, digest, size, open);
        this.stats.blobUploads++;
        this.stats.uploadedBytes += size;
        this.noteBlob(repository, digest);
        return 'uploaded';
      } catch (err) {
        if (attempt >= this.retries || !isTransient(err)) throw err;
        mountFrom = undefined;
        await sleep(backoff(attempt));
      }
    }
  }

  /** POST …/blobs/uploads/: 'mounted' when the registry mounted the blob, else the upload location. */
  private async startUpload(repository: string, digest: Digest, mountFrom: string | undefined): Promise<'mounted' | string> {
    const spec: RequestSpec = { method: 'POST', url: `/v2/${repository}/blobs/uploads/`, repository, actions: 'pull,push', headers: { 'content-length': '0' } };
    if (mountFrom !== undefined) {
      spec.url += `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}`;
      spec.extraScopes = [repositoryScope(mountFrom, 'pull')];
    }
    const res = await this.send(spec);
    if (res.status === 201 && mountFrom !== undefined) {
      await drain(res);
      return 'mounted';
    }
    await this.check(res, [202], `an upload to ${repository}`, repository);
    await drain(res);
    return this.location(res, spec.url, `starting an upload to ${repository}`);
  }

  private async completeUpload(repository: string, location: string, digest: Digest, size: number, open: () => Promise<Readable>): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const res = await this.send({
      method: 'PUT',
      url: url.toString(),
      repository,
      actions: 'pull,push',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: open,
    });
    await this.check(res, [201, 204], `blob ${digest} for ${repository}`, repository);
    await drain(res);
  }

  /** A repository of this registry (other than `repository`) known to hold `digest`, to mount from. */
  mountSource(digest: Digest, repository: string): string | undefined {
    for (const home of this.blobHomes.get(digest) ?? []) if (home !== repository) return home;
    return undefined;
  }

  noteBlob(repository: string, digest: Digest): void {
    let homes = this.blobHomes.get(digest);
    if (!homes) this.blobHomes.set(digest, (homes = new Set()));
    homes.add(repository);
  }

  // ---- transport ----

  /** Send with authentication: answer a 401 challenge once, follow GET/HEAD redirects. */
  private async send(spec: RequestSpec): Promise<Response> {
    await this.ping();
    let authorization = await this.authorization(spec, false);
    let res = await this.fetchWithRetry(spec, authorization);
    if (res.status === 401) {
      const challengeHeader = res.headers.get('www-authenticate');
      await drain(res);
      const before = this.scheme?.kind;
      this.learnChallenge(challengeHeader);
      // A second try only helps when we can now send something we did not send before.
      const retry = await this.authorization(spec, true);
      if (retry === undefined || (retry === authorization && before === this.scheme?.kind)) {
        throw await this.authError(spec.repository, challengeHeader);
      }
      authorization = retry;
      res = await this.fetchWithRetry(spec, authorization);
      if (res.status === 401) {
        const again = res.headers.get('www-authenticate');
        await drain(res);
        throw await this.authError(spec.repository, again);
      }
    }
    if ((spec.method === 'GET' || spec.method === 'HEAD') && isRedirect(res.status)) {
      return this.followRedirects(spec, res, authorization);
    }
    return res;
  }

  /** Follow redirects by hand so credentials never reach another origin (blob storage, CDNs). */
  private async followRedirects(spec: RequestSpec, first: Response, authorization: string | undefined): Promise<Response> {
    let res = first;
    let url = this.resolve(spec.url);
    for (let hops = 0; isRedirect(res.status); hops++) {
      if (hops >= MAX_REDIRECTS) throw new RegistryError('protocol', `registry ${this.host} redirected ${spec.method} ${url.pathname} more than ${MAX_REDIRECTS} times`);
      const next = new URL(this.location(res, url.toString(), `${spec.method} ${url.pathname}`));
      await drain(res);
      if (url.protocol === 'https:' && next.protocol !== 'https:') {
        throw new RegistryError('protocol', `registry ${this.host} redirected ${url.pathname} from HTTPS to plain HTTP (${next.origin}); refusing`);
      }
      url = next;
      res = await this.fetchWithRetry({ ...spec, url: url.toString() }, url.origin === this.baseUrl ? authorization : undefined);
    }
    return res;
  }

  private async fetchWithRetry(spec: RequestSpec, authorization: string | undefined): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.fetchOnce(spec, authorization);
        if (spec.idempotent && attempt < this.retries && (res.status === 502 || res.status === 503 || res.status === 504)) {
          await drain(res);
          await sleep(backoff(attempt));
          continue;
        }
        return res;
      } catch (err) {
        if (!spec.idempotent || attempt >= this.retries || !isTransient(err)) throw err;
        await sleep(backoff(attempt));
      }
    }
  }

  private async fetchOnce(spec: RequestSpec, authorization: string | undefined): Promise<Response> {
    const url = this.resolve(spec.url);
    const headers: Record<string, string> = { 'user-agent': `tsbak/${VERSION}`, ...spec.headers };
    if (authorization !== undefined && url.origin === this.baseUrl) headers.authorization = authorization;
    const body = spec.body ? await spec.body() : undefined;
    this.stats.requests++;
    try {
      return await fetch(url, {
        method: spec.method,
        headers,
        redirect: 'manual',
        ...(body === undefined ? {} : { body: body as unknown as NonNullable<RequestInit['body']>, duplex: 'half' as const }),
      });
    } catch (err) {
      if (body instanceof Readable) body.destroy();
      throw this.transportError(err, url);
    }
  }

  private resolve(url: string): URL {
    return new URL(url, this.baseUrl);
  }

  /** The absolute URL of a response's Location header. */
  private location(res: Response, requestUrl: string, what: string): string {
    const location = res.headers.get('location');
    if (!location) throw new RegistryError('protocol', `registry ${this.host} sent no Location header when ${what}`);
    const resolved = new URL(location, this.resolve(requestUrl));
    if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') {
      throw new RegistryError('protocol', `registry ${this.host} sent a Location that is not HTTP(S): ${location}`);
    }
    return resolved.toString();
  }

  private transportError(err: unknown, url: URL): Error {
    if (err instanceof RegistryError) return err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? '';
    const detail = cause?.message ?? errorMessage(err);
    let hint = '';
    if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/.test(code + detail)) hint = ' (is the registry running, and is the host right?)';
    else if (/SSL|TLS|EPROTO|wrong version|CERT|certificate/i.test(code + detail)) {
      hint = url.protocol === 'https:' ? ' (if it serves plain HTTP, pass --insecure-registry; a self-signed certificate needs NODE_EXTRA_CA_CERTS)' : '';
    }
    return new RegistryError('unreachable', `registry ${this.host} is not reachable: ${detail}${hint}`, { cause: err });
  }

  /** Turn a non-OK status into a RegistryError that names the registry, the thing, and the fix. */
  private async check(res: Response, ok: number[], what: string, repository: string | undefined): Promise<void> {
    if (ok.includes(res.status)) return;
    const { text, codes } = await errorBody(res);
    const said = text ? `: ${text}` : '';
    const repo = repository ?? 'the registry';
    switch (res.status) {
      case 401:
        throw await this.authError(repository, res.headers.get('www-authenticate'));
      case 403:
        throw new RegistryError('denied', `registry ${this.host} denied access to ${repo}${said} (do these credentials have push rights there?)`, { statusCode: 403, codes });
      case 404:
        if (codes.includes('NAME_UNKNOWN')) {
          throw new RegistryError('not-found', `repository ${repo} not found on registry ${this.host}${said}`, { statusCode: 404, codes });
        }
        throw new RegistryError('not-found', `${what} not found on registry ${this.host}${said}`, { statusCode: 404, codes });
      default:
        if (res.status >= 400 && res.status < 500) {
          throw new RegistryError('rejected', `registry ${this.host} rejected ${what} (HTTP ${res.status})${said}`, { statusCode: res.status, codes });
        }
        throw new RegistryError('protocol', `registry ${this.host} failed on ${what} (HTTP ${res.status})${said}`, { statusCode: res.status, codes });
    }
  }

  // ---- authentication ----

  private learnChallenge(header: string | null): void {
    const challenges = parseChallenges(header ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      this.scheme = { kind: 'bearer', realm: bearer.params.realm as string, ...(bearer.params.service ? { service: bearer.params.service } : {}) };
      return;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      this.scheme = { kind: 'basic' };
      return;
    }
    // 401 without a challenge we understand: try Basic if we have credentials.
    this.scheme = { kind: 'basic' };
  }

  private credentials(): Promise<RegistryCredentials | undefined> {
    if (this.options.credentials) return Promise.resolve(this.options.credentials);
    this.credentialsLookup ??= dockerConfigCredentials(this.host, this.options.dockerConfigDir ?? dockerConfigDir());
    return this.credentialsLookup;
  }

  /** The Authorization header for a request, or undefined. `fresh` drops a cached token first. */
  private async authorization(spec: RequestSpec, fresh: boolean): Promise<string | undefined> {
    const scheme = this.scheme;
    if (!scheme || scheme.kind === 'none') return undefined;
    const creds = await this.credentials();
    if (scheme.kind === 'basic') return creds ? basicAuthorization(creds) : undefined;
    const scopes = spec.repository !== undefined ? [repositoryScope(spec.repository, spec.actions ?? 'pull'), ...(spec.extraScopes ?? [])] : [];
    return `Bearer ${await this.token(scheme, scopes, creds, fresh, spec.repository)}`;
  }

  /** A token for these scopes: cached (a pull,push token serves pull too) or fetched from the realm. */
  private async token(
    scheme: { realm: string; service?: string },
    scopes: string[],
    creds: RegistryCredentials | undefined,
    fresh: boolean,
    repository: string | undefined,
  ): Promise<string> {
    const key = scopes.join(' ');
    const now = Date.now();
    if (!fresh) {
      const candidates = [key, key.replace(/:pull$/, ':pull,push')];
      for (const k of candidates) {
        const cached = this.tokens.get(k);
        if (cached && cached.expiresAt > now) return cached.token;
      }
      // Layers pushed in parallel ask at once: one token request serves them all.
      const pending = this.tokenFetches.get(key);
      if (pending) return pending;
    }
    const fetching = this.fetchToken(scheme, scopes, creds, repository, key).finally(() => this.tokenFetches.delete(key));
    this.tokenFetches.set(key, fetching);
    return fetching;
  }

  private async fetchToken(
    scheme: { realm: string; service?: string },
    scopes: string[],
    creds: RegistryCredentials | undefined,
    repository: string | undefined,
    key: string,
  ): Promise<string> {
    const now = Date.now();
    const realm = new URL(scheme.realm);
    if (creds && realm.protocol !== 'https:' && !(realm.protocol === 'http:' && (isLoopbackHost(realm.host) || this.options.insecure))) {
      throw new RegistryError('protocol', `registry ${this.host} wants tokens from ${scheme.realm}, which is not HTTPS; refusing to send credentials there`);
    }
    if (scheme.service) realm.searchParams.set('service', scheme.service);
    for (const s of scopes) realm.searchParams.append('scope', s);
    const headers: Record<string, string> = { 'user-agent': `tsbak/${VERSION}` };
    if (creds) headers.authorization = basicAuthorization(creds);
    this.stats.tokenRequests++;
    this.stats.requests++;
    let res: Response;
    try {
      res = await fetch(realm, { headers, redirect: 'follow' });
    } catch (err) {
      throw this.transportError(err, realm);
    }
    if (res.status === 401 || res.status === 403) {
      await drain(res);
      throw await this.authError(repository, null, true);
    }
    if (res.status !== 200) {
      const { text } = await errorBody(res);
      throw new RegistryError('protocol', `the token service of registry ${this.host} (${realm.origin}) answered HTTP ${res.status}${text ? `: ${text}` : ''}`, {
        statusCode: res.status,
      });
    }
    let doc: TokenResponse;
    try {
      doc = JSON.parse((await readLimited(res, ERROR_BODY_LIMIT, 'token response')).toString('utf8')) as TokenResponse;
    } catch (err) {
      throw new RegistryError('protocol', `the token service of registry ${this.host} sent no JSON: ${errorMessage(err)}`);
    }
    const token = doc.token ?? doc.access_token;
    if (!token) throw new RegistryError('protocol', `the token service of registry ${this.host} sent no token`);
    const lifetime = Math.max(doc.expires_in ?? 60, 10) * 1000;
    const issued = doc.issued_at ? Date.parse(doc.issued_at) : NaN;
    const base = Number.isFinite(issued) && issued <= now ? issued : now;
    // Renew a little early so a token never expires between our check and the registry's.
    this.tokens.set(key, { token, expiresAt: base + lifetime - 5000 });
    return token;
  }

  private async authError(repository: string | undefined, challenge: string | null, fromTokenService = false): Promise<RegistryError> {
    const creds = await this.credentials();
    const repo = repository ?? 'the registry';
    const problem = parseChallenges(challenge ?? '').find((c) => c.params.error)?.params.error;
    const extra = problem && problem !== 'invalid_token' ? ` (${problem})` : '';
    if (creds) {
      return new RegistryError(
        'auth',
        `registry ${this.host} refused the credentials for ${repo}${extra}${fromTokenService ? ' at its token service' : ''} (check --registry-user / ~/.docker/config.json)`,
        { statusCode: 401 },
      );
    }
    return new RegistryError(
      'auth',
      `registry ${this.host} requires credentials for ${repo}: pass --registry-user and --registry-password-stdin, or run \`docker login ${this.host}\``,
      { statusCode: 401 },
    );
  }
}

/** The media type of a fetched manifest: the Content-Type when specific, else the document's own, else inferred. */
function manifestMediaType(contentType: string | null, bytes: Buffer): string {
  const ct = (contentType ?? '').split(';')[0]?.trim() ?? '';
  if (ct !== '' && ct !== 'application/json' && ct !== 'text/plain' && ct !== 'application/octet-stream') return ct;
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown; config?: unknown };
    if (typeof doc.mediaType === 'string') return doc.mediaType;
    if (Array.isArray(doc.manifests)) return MediaType.ociIndex;
    if (doc.config) return MediaType.ociManifest;
  } catch {
    // fall through: the caller reports what it cannot parse
  }
  return ct;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** Network failures worth another try: a dropped connection, not a refused one or a bad certificate. */
function isTransient(err: unknown): boolean {
  const cause = (err as { cause?: { cause?: { code?: string }; code?: string } }).cause;
  const code = cause?.code ?? cause?.cause?.code ?? '';
  if (err instanceof RegistryError) {
    if (err.kind === 'protocol' && err.statusCode !== undefined && err.statusCode >= 500) return true;
    if (err.kind !== 'unreachable') return false;
  }
  return /ECONNRESET|EPIPE|ETIMEDOUT|UND_ERR_SOCKET|UND_ERR_CLOSED|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT|other side closed/.test(
    code + errorMessage(err),
  );
}

function backoff(attempt: number): number {
  return 250 * 4 ** attempt;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function bodyStream(res: Response): Readable {
  if (!res.body) return Readable.from([]);
  return Readable.fromWeb(res.body as unknown as NodeReadableStream<Uint8Array>);
}

async function drain(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // already consumed or errored: nothing to free
  }
}

async function readLimited(res: Response, limit: number, what: string): Promise<Buffer> {
  const length = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(length) && length > limit) {
    await drain(res);
    throw new CorruptDataError(`${what} is ${length} bytes; refusing more than ${limit}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of bodyStream(res)) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) throw new CorruptDataError(`${what} is larger than ${limit} bytes; refusing to read it into memory`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

async function readText(res: Response): Promise<string> {
  try {
    return (await readLimited(res, ERROR_BODY_LIMIT, 'error body')).toString('utf8').trim();
  } catch {
    return '';
  }
}

async function errorBody(res: Response): Promise<{ text: string; codes: string[] }> {
  return describeErrorBody(await readText(res));
}
