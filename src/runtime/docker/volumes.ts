import { EngineClient, unlessNotFound } from './client.js';

export interface VolumeInspect {
  Name: string;
  Driver: string;
  Mountpoint: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
  Scope?: string;
  CreatedAt?: string;
}

/** The engine's volume operations tsbak needs. */
export class EngineVolumes {
  constructor(readonly client: EngineClient) {}

  async list(): Promise<VolumeInspect[]> {
    const res = await this.client.json<{ Volumes: VolumeInspect[] | null }>('GET', '/volumes');
    return res.Volumes ?? [];
  }

  async inspect(name: string): Promise<VolumeInspect> {
    return this.client.inspect<VolumeInspect>(`/volumes/${encodeURIComponent(name)}`, `volume ${name}`);
  }

  async find(name: string): Promise<VolumeInspect | undefined> {
    return unlessNotFound(this.inspect(name));
  }

  async create(name: string, driver: string, labels: Record<string, string>, options: Record<string, string>): Promise<VolumeInspect> {
    return this.client.json<VolumeInspect>('POST', '/volumes/create', {
      body: Buffer.from(JSON.stringify({ Name: name, Driver: driver, Labels: labels, DriverOpts: options })),
      headers: { 'Content-Type': 'application/json' },
    });
  }
}
