import type { Snapshot } from '../../repo/snapshot.js';
import type { ImageRecord } from '../../image/model.js';
import type { ContainerRecord } from '../../container/model.js';
import { selectImages } from '../image-select.js';
import { canonicalName } from '../../image/reference.js';
import { NotFoundError, UsageError } from '../../errors.js';

export interface VolumeSelection {
  name: string;
  /** Restore under this name (NAME:NEW). */
  target: string;
}

export interface RestoreSelection {
  images: ImageRecord[];
  volumes: VolumeSelection[];
  containers: ContainerRecord[];
}

/** `NAME` or `NAME:NEW`. */
export function parseVolumeArg(arg: string): VolumeSelection {
  const [name, target, extra] = arg.split(':');
  if (!name || extra !== undefined || target === '') throw new UsageError(`--volume takes NAME or NAME:NEWNAME, not "${arg}"`);
  return { name, target: target ?? name };
}

/**
 * What to restore. Nothing named → everything in the snapshot. Named
 * containers bring their images along (they cannot run without them).
 */
export function selectForRestore(
  snapshot: Snapshot,
  label: string,
  args: { images: string[]; volumes: string[]; containers: string[] },
): RestoreSelection {
  const everything = args.images.length === 0 && args.volumes.length === 0 && args.containers.length === 0;
  const volumeNames = snapshot.volumes.map((v) => v.name);
  if (everything) {
    return {
      images: snapshot.images,
      volumes: volumeNames.map((name) => ({ name, target: name })),
      containers: snapshot.containers,
    };
  }
  const containers = args.containers.map((ref) => {
    const found = snapshot.containers.find((c) => c.name === ref.replace(/^\//, '') || c.id.startsWith(ref));
    if (!found) throw new NotFoundError(`container ${ref} is not in snapshot ${label}; see \`tsbak show ${label}\``);
    return found;
  });
  // selectImages with no filter means every image; here it means none but the containers' own.
  const images = new Set(args.images.length > 0 ? selectImages(snapshot.images, args.images, label) : []);
  for (const c of containers) {
    const img = snapshot.images.find((i) => i.config === c.imageId || i.names.some((n) => canonicalName(n) === canonicalName(c.image)));
    if (img) images.add(img);
  }
  const volumes = args.volumes.map(parseVolumeArg);
  for (const v of volumes) {
    if (!volumeNames.includes(v.name)) throw new NotFoundError(`volume ${v.name} is not in snapshot ${label}; see \`tsbak show ${label}\``);
  }
  return { images: snapshot.images.filter((i) => images.has(i)), volumes, containers };
}
