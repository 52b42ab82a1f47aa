import type { ImageRecord } from '../image/model.js';
import { canonicalName } from '../image/reference.js';
import { NotFoundError } from '../errors.js';

/**
 * Pick images of a snapshot by name (`app:1`, `docker.io/library/app:1`) or by
 * id prefix (`sha256:ab12…`, `ab12…`). No filters selects every image; a
 * filter that matches nothing is an error naming it.
 */
export function selectImages(images: ImageRecord[], filters: string[], snapshotLabel: string): ImageRecord[] {
  if (filters.length === 0) return images;
  const chosen = new Set<ImageRecord>();
  for (const filter of filters) {
    const canonical = canonicalName(filter);
    const idPrefix = filter.replace(/^sha256:/, '');
    const matches = images.filter(
      (img) =>
        (canonical !== undefined && img.names.some((n) => canonicalName(n) === canonical)) ||
        (/^[0-9a-f]{6,64}$/.test(idPrefix) && img.config.slice('sha256:'.length).startsWith(idPrefix)),
    );
    if (matches.length === 0) throw new NotFoundError(`image ${filter} is not in snapshot ${snapshotLabel}; see \`tsbak show ${snapshotLabel}\``);
    for (const m of matches) chosen.add(m);
  }
  return images.filter((img) => chosen.has(img));
}
