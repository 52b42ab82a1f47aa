import type { Snapshot } from '../repo/snapshot.js';
import type { BlobStore } from '../repo/blob-store.js';
import { decodeTree, isHardlink } from '../volume/tree.js';
import type { Digest } from '../util/digest.js';

/**
 * Every blob a snapshot reaches: image configs and layers, a registry image's
 * original manifest and compressed layers, and each volume's trees and chunks.
 * Trees are read (and verified) to find their children; `seen` spans calls so
 * a tree shared by snapshots is walked once.
 */
export async function reachableBlobs(snapshot: Snapshot, blobs: BlobStore, seen = new Set<string>()): Promise<Digest[]> {
  const out: Digest[] = [];
  const add = (d: Digest) => {
    if (seen.has(d)) return false;
    seen.add(d);
    out.push(d);
    return true;
  };
  for (const img of snapshot.images) {
    add(img.config);
    img.layers.forEach((l) => add(l.diffID));
    if (img.distribution) {
      add(img.distribution.manifest);
      img.distribution.layers.forEach((l) => add(l.digest));
    }
  }
  const walk = async (tree: Digest): Promise<void> => {
    if (!add(tree) || !blobs.has(tree)) return;
    const doc = decodeTree(await blobs.readBuffer(tree), `tree ${tree}`);
    for (const node of doc.nodes) {
      if (isHardlink(node)) continue;
      node.content?.forEach((c) => add(c));
      if (node.subtree) await walk(node.subtree);
    }
  };
  for (const v of snapshot.volumes) await walk(v.tree);
  return out;
}
