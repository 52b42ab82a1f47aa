import type { Readable } from 'node:stream';
import { EngineClient, unlessNotFound } from './client.js';

export interface EngineImageSummary {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Size: number;
}

export interface EngineImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Os?: string;
  Architecture?: string;
  Size?: number;
  RootFS: { Type: string; Layers?: string[] };
}

/** The engine's image operations that the image transport needs. */
export class EngineImages {
  constructor(readonly client: EngineClient) {}

  async list(): Promise<EngineImageSummary[]> {
    return this.client.json<EngineImageSummary[]>('GET', '/images/json');
  }

  async inspect(ref: string): Promise<EngineImageInspect> {
    return this.client.inspect<EngineImageInspect>(`/images/${encodeURIComponent(ref)}/json`, `image ${ref}`);
  }

  /** `docker save` of several images in one tar stream (shared layers appear once). */
  async save(names: string[]): Promise<Readable> {
    return this.client.request('GET', '/images/get', { query: { names } });
  }

  /** Inspect, or undefined when the engine has no such image. */
  async find(ref: string): Promise<EngineImageInspect | undefined> {
    return unlessNotFound(this.inspect(ref));
  }

  /** Point `name` (repo:tag) at an image id. */
  async tag(id: string, name: string): Promise<void> {
    const at = name.lastIndexOf(':');
    const slash = name.lastIndexOf('/');
    const [repo, tag] = at > slash ? [name.slice(0, at), name.slice(at + 1)] : [name, 'latest'];
    await this.client.json('POST', `/images/${encodeURIComponent(id)}/tag`, { query: { repo, tag } });
  }

  async version(): Promise<{ Version: string; ApiVersion: string }> {
    return this.client.json('GET', '/version');
  }
}
