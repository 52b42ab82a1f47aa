// The image set the images, restore and push scenarios share: the big fixture plus the
// small app and tool images, backed up once into a repository and saved once with
// `docker save` for the peers.
import { buildBigFixture, buildFixtures } from '../../test/env/fixtures.js';
import { docker, dockerOk } from '../../test/env/dockerd.js';
import type { BenchContext } from './scenario.js';

export interface ImageSet {
  /** Image names, the big one first. */
  images: string[];
  /** Image ID per name, as the engine had them before anything was removed. */
  ids: Record<string, string>;
  /** `--image NAME` for each. */
  imageArgs: string[];
}

export async function buildImageSet(ctx: BenchContext): Promise<ImageSet> {
  const t0 = Date.now();
  const small = await buildFixtures(ctx.engine.host);
  const big = await buildBigFixture(ctx.engine.host, ctx.sizeMB);
  const images = [big.name, small.app.name, small.tool.name];
  const ids: Record<string, string> = {};
  for (const i of images) ids[i] = (await dockerOk(ctx.engine.host, ['image', 'inspect', '--format', '{{.Id}}', i])).trim();
  ctx.log(`fixtures ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${images.join(', ')}`);
  return { images, ids, imageArgs: images.flatMap((i) => ['--image', i]) };
}

/** A repository at `dir` holding one snapshot of the set. */
export async function backupImageSet(ctx: BenchContext, set: ImageSet, dir: string): Promise<void> {
  await ctx.tsbak.ok(['init', '--repo', dir]);
  await ctx.tsbak.ok(['backup', ...set.imageArgs, '--repo', dir]);
}

/** `docker save -o FILE` of the set. */
export async function saveImageSet(ctx: BenchContext, set: ImageSet, file: string): Promise<void> {
  await dockerOk(ctx.engine.host, ['save', '-o', file, ...set.images]);
}

/** Removes the set's tags from the engine (and so their layers, except those other images use). */
export async function removeImageSet(ctx: BenchContext, set: ImageSet): Promise<void> {
  const present: string[] = [];
  for (const i of set.images) if ((await docker(ctx.engine.host, ['image', 'inspect', i])).code === 0) present.push(i);
  if (present.length > 0) await dockerOk(ctx.engine.host, ['image', 'rm', ...present]);
}

/** Throws unless every image of the set is on the engine with its original ID. */
export async function checkImageSet(ctx: BenchContext, set: ImageSet, who: string): Promise<void> {
  for (const i of set.images) {
    const r = await docker(ctx.engine.host, ['image', 'inspect', '--format', '{{.Id}}', i]);
    if (r.code !== 0) throw new Error(`after ${who}, ${i} is not on the engine: figures discarded`);
    if (r.stdout.trim() !== set.ids[i]) throw new Error(`after ${who}, ${i} has ID ${r.stdout.trim()}, not ${set.ids[i]}: figures discarded`);
  }
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
