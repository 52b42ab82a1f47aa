import { EngineClient, unlessNotFound } from './client.js';
import type { ContainerInspect } from './capture.js';

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  State: string;
  Labels: Record<string, string>;
  Mounts: { Type: string; Name?: string }[];
}

/** The engine's container operations tsbak needs. */
export class EngineContainers {
  constructor(readonly client: EngineClient) {}

  async list(filters: Record<string, string[]> = {}): Promise<ContainerSummary[]> {
    return this.client.json('GET', '/containers/json', { query: { all: 'true', filters: JSON.stringify(filters) } });
  }

  async inspect(ref: string): Promise<ContainerInspect> {
    return this.client.inspect<ContainerInspect>(`/containers/${encodeURIComponent(ref)}/json`, `container ${ref}`);
  }

  async exists(ref: string): Promise<ContainerInspect | undefined> {
    return unlessNotFound(this.inspect(ref));
  }

  async create(name: string, body: Record<string, unknown>): Promise<string> {
    const res = await this.client.json<{ Id: string }>('POST', '/containers/create', {
      query: { name },
      body: Buffer.from(JSON.stringify(body)),
      headers: { 'Content-Type': 'application/json' },
    });
    return res.Id;
  }

  async start(ref: string): Promise<void> {
    await this.client.json('POST', `/containers/${encodeURIComponent(ref)}/start`);
  }

  /** Stop; without a timeout the engine uses the container's own (--stop-timeout, default 10 s). */
  async stop(ref: string, timeoutSeconds?: number): Promise<void> {
    await this.client.json('POST', `/containers/${encodeURIComponent(ref)}/stop`, {
      query: { t: timeoutSeconds === undefined ? undefined : String(timeoutSeconds) },
    });
  }

  async remove(ref: string, options: { force?: boolean } = {}): Promise<void> {
    await this.client.json('DELETE', `/containers/${encodeURIComponent(ref)}`, { query: { force: options.force ? 'true' : undefined } });
  }

  async connect(container: string, network: string, endpoint: unknown): Promise<void> {
    await this.client.json('POST', `/networks/${encodeURIComponent(network)}/connect`, {
      body: Buffer.from(JSON.stringify({ Container: container, EndpointConfig: endpoint })),
      headers: { 'Content-Type': 'application/json' },
    });
  }

  async networkExists(name: string): Promise<boolean> {
    return (await unlessNotFound(this.client.json<unknown>('GET', `/networks/${encodeURIComponent(name)}`))) !== undefined;
  }
}
