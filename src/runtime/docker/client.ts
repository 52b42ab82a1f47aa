import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Readable } from 'node:stream';
import { EngineError, NotFoundError, errorMessage } from '../../errors.js';
import { readAll } from '../../util/streams.js';

/** The newest Engine API version this client speaks; older engines are negotiated down. */
const MAX_API_VERSION = '1.45';
const DEFAULT_HOST = 'unix:///var/run/docker.sock';

export interface RequestParams {
  query?: Record<string, string | string[] | undefined>;
  body?: Buffer | Readable;
  headers?: Record<string, string>;
}

/**
 * A Docker Engine API client over a unix socket or plain TCP. The engine is
 * found as the docker CLI finds it: DOCKER_HOST, else /var/run/docker.sock.
 */
export class EngineClient {
  readonly host: string;
  private apiVersion: string | undefined;
  private readonly target: Pick<RequestOptions, 'socketPath' | 'hostname' | 'port'>;

  constructor(host: string = process.env.DOCKER_HOST || DEFAULT_HOST) {
    this.host = host;
    if (host.startsWith('unix://')) {
      this.target = { socketPath: host.slice('unix://'.length) };
    } else if (host.startsWith('tcp://') || host.startsWith('http://')) {
      const url = new URL(host.replace(/^tcp:/, 'http:'));
      this.target = { hostname: url.hostname, port: Number(url.port || 2375) };
    } else if (host.startsWith('/')) {
      this.target = { socketPath: host };
    } else {
      throw new EngineError(`DOCKER_HOST "${host}" is not supported: use unix:///path/to/docker.sock or tcp://HOST:PORT`);
    }
  }

  /** `GET /_ping`, fixing the API version to min(engine, client). */
  async negotiate(): Promise<string> {
    if (this.apiVersion) return this.apiVersion;
    const res = await this.raw('GET', '/_ping', {});
    await readAll(res, 1 << 16, 'engine ping');
    const engineVersion = res.headers['api-version'];
    const version = typeof engineVersion === 'string' ? engineVersion : '1.24';
    this.apiVersion = compareVersions(version, MAX_API_VERSION) < 0 ? version : MAX_API_VERSION;
    return this.apiVersion;
  }

  /** A versioned request; resolves with the response for any 2xx status, throws EngineError otherwise. */
  async request(method: string, path: string, params: RequestParams = {}): Promise<IncomingMessage> {
    const version = await this.negotiate();
    const res = await this.raw(method, `/v${version}${path}`, params);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    const message = await errorBody(res);
    throw new EngineError(`engine at ${this.host}: ${method} ${path} failed (${status}): ${message}`, { statusCode: status });
  }

  async json<T>(method: string, path: string, params: RequestParams = {}): Promise<T> {
    const res = await this.request(method, path, params);
    const body = await readAll(res, 256 << 20, `engine response to ${path}`);
    if (body.length === 0) return undefined as T;
    return JSON.parse(body.toString('utf8')) as T;
  }

  /** GET an object's JSON; a 404 becomes a NotFoundError naming it (`image app:1`). */
  async inspect<T>(path: string, what: string): Promise<T> {
    try {
      return await this.json<T>('GET', path);
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`${what} does not exist in the engine at ${this.host}`);
      throw err;
    }
  }

  private raw(method: string, path: string, params: RequestParams): Promise<IncomingMessage> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params.query ?? {})) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) search.append(key, v);
    }
    const qs = search.toString();
    const headers: Record<string, string> = { Host: 'docker', ...params.headers };
    if (Buffer.isBuffer(params.body)) headers['Content-Length'] = String(params.body.length);
    return new Promise((resolve, reject) => {
      const req = httpRequest({ ...this.target, method, path: qs ? `${path}?${qs}` : path, headers }, resolve);
      req.on('error', (err) => reject(this.connectionError(err)));
      const body = params.body;
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      }
    });
  }

  private connectionError(err: Error): Error {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === 'ENOENT' || code === 'ECONNREFUSED'
        ? 'is dockerd running? set DOCKER_HOST to its socket'
        : code === 'EACCES'
          ? 'permission denied: run as root or as a member of the docker group'
          : errorMessage(err);
    return new EngineError(`cannot reach the Docker engine at ${this.host}: ${code ?? 'error'} (${hint})`, { cause: err });
  }
}

async function errorBody(res: IncomingMessage): Promise<string> {
  const body = (await readAll(res, 1 << 20, 'engine error').catch(() => Buffer.alloc(0))).toString('utf8');
  try {
    const parsed = JSON.parse(body) as { message?: string };
    return parsed.message ?? body;
  } catch {
    return body.trim() || res.statusMessage || 'no message';
  }
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The value, or undefined when the engine (or a wrapper) says the thing does not exist. */
export async function unlessNotFound<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (err) {
    if (isNotFound(err) || err instanceof NotFoundError) return undefined;
    throw err;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof EngineError && err.statusCode === 404;
}

