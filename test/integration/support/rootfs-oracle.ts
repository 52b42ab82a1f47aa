// Oracles for unpacked root filesystems: a canonical listing of a tree, and
// `docker export` of a container made from an image (what Docker itself unpacks).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { dockerCli } from '../../helpers.js';

/** What Docker adds to every container, and the kernel's mount points. */
export const DOCKER_ADDS = /^(\.dockerenv|etc\/mtab|etc\/hostname|etc\/hosts|etc\/resolv\.conf|dev|dev\/.*|proc|proc\/.*|sys|sys\/.*)$/;



export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export async function docker(args: string[]): Promise<string> {
  const r = await dockerCli(args, { timeoutMs: 600_000 });
  assert.equal(r.code, 0, `docker ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** One line per path: type, mode, owner, size (files), target (symlinks), link count (non-directories). */
export function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir)) {
      const r = rel ? `${rel}/${name}` : name;
      if (DOCKER_ADDS.test(r)) continue;
      const p = path.join(dir, name);
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      const own = `${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.push(`${r}/ d ${mode} ${own}`);
        walk(p, r);
      } else if (st.isSymbolicLink()) out.push(`${r} l ${own} -> ${readlinkSync(p)}`);
      else if (st.isFile()) out.push(`${r} f ${mode} ${own} ${st.size} n${st.nlink} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 12)}`);
      else out.push(`${r} ${st.isFIFO() ? 'p' : '?'} ${mode} ${own} n${st.nlink}`);
    }
  };
  walk(root, '');
  return out.sort();
}

/** `docker export` of a container created from the image, extracted by GNU tar (owners, modes, hard links). */
export async function dockerExport(image: string, dir: string): Promise<string> {
  const id = (await docker(['create', '--network', 'none', image])).trim();
  const archive = path.join(dir, 'export.tar');
  try {
    await docker(['export', '-o', archive, id]);
  } finally {
    await docker(['rm', '-f', id]);
  }
  const root = path.join(dir, 'export-rootfs');
  mkdirSync(root);
  run('tar', ['--numeric-owner', '--same-owner', '-p', '-xf', archive, '-C', root]);
  return root;
}

/** An upper layer that deletes, replaces and re-creates files, with hard links, symlinks, a fifo and setuid. */
export const CHANGES_DOCKERFILE = (base: string) => `FROM ${base}
RUN mkdir -p /dir/sub /olddir /data /dirtofile /opq/keep \\
 && echo a > /dir/a && echo b > /dir/sub/b && echo keep > /keep.txt && echo del > /del.txt \\
 && echo old > /replace.txt && echo x > /olddir/x && echo y > /dirtofile/y \\
 && echo h > /data/h1 && ln /data/h1 /data/h2 && ln -s /data/h1 /data/abs-link && ln -s h1 /data/rel-link \\
 && echo o > /opq/old && echo k > /opq/keep/k \\
 && busybox chown 1000:1001 /data/h1 && chmod 4755 /data/h1 && chmod 2750 /dir/sub && chmod 1777 /opq \\
 && busybox mkfifo /data/fifo && busybox chown 7:8 /data/fifo && ln -s /var/run-target /var/run
RUN rm /del.txt && echo new > /replace.txt && rm -rf /dirtofile && echo nowfile > /dirtofile \\
 && rm -rf /dir && mkdir /dir && echo new > /dir/f \\
 && rm -rf /opq && mkdir /opq && echo fresh > /opq/fresh \\
 && rm /data/h2 && ln /data/h1 /data/h3 && ln /data/h1 /h4-at-root && ln -s /keep.txt /newlink && rm -rf /olddir \\
 && rm /data/rel-link && mkdir /data/rel-link && ln -s ../../.. /data/up
CMD ["sh"]
`;

