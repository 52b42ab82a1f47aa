import { UsageError } from '../../errors.js';
import { isDigest, type Digest } from '../../util/digest.js';
import { parseReference } from '../reference.js';

/**
 * `registry://HOST[/PATH][:TAG|@sha256:…]` as tsbak's commands take it.
 *
 * - As a **source** (`backup --image registry://HOST/REPO[:TAG|@DIGEST]`) it names
 *   one image; no tag and no digest means `latest`.
 * - As a **target** (`restore SNAP --to registry://HOST/NS`) without a tag, NS is
 *   a namespace: every image is pushed as `HOST/NS/<last path component of its
 *   name>:<its tag>`, once per name (`tsbak-fixture/app:1` → `HOST/NS/app:1`).
 *   `registry://HOST` alone pushes to `HOST/<last component>:<tag>`. With a tag
 *   (`registry://HOST/team/app:v2`) it is the exact repository and tag, and only
 *   one image may be selected. A digest is never a target.
 *
 * The host is used exactly as written (no Docker Hub defaulting): `docker.io`
 * is accepted and talks to `registry-1.docker.io`.
 */
export interface RegistryLocation {
  /** `host[:port]`, lowercased, as the user named it (and as credentials are keyed). */
  host: string;
  /** Repository path (`team/app`), or '' when only a host was given. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

export const REGISTRY_SCHEME = 'registry://';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOSTNAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;

export function isRegistryUrl(input: string): boolean {
  return input.startsWith(REGISTRY_SCHEME);
}

/** Parse `registry://HOST[/PATH][:TAG|@DIGEST]` without applying source or target rules. */
export function parseRegistryUrl(input: string): RegistryLocation {
  if (!isRegistryUrl(input)) throw new UsageError(`"${input}" is not a registry URL: write registry://HOST/REPOSITORY[:TAG]`);
  let rest = input.slice(REGISTRY_SCHEME.length);
  const slash = rest.indexOf('/');
  const host = (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase();
  rest = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  checkHost(host, input);

  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw new UsageError(`invalid registry URL "${input}": "${d}" is not a sha256:<64 hex> digest`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0 && colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new UsageError(`invalid registry URL "${input}": bad tag "${tag}" (letters, digits, _ . -; at most 128)`);
  }
  if (rest !== '' && rest.split('/').some((p) => !COMPONENT.test(p))) {
    throw new UsageError(`invalid registry URL "${input}": repository "${rest}" must be lowercase letters, digits and separators (. _ -)`);
  }
  if (rest === '' && (tag !== undefined || digest !== undefined)) {
    throw new UsageError(`invalid registry URL "${input}": a tag or digest needs a repository (registry://HOST/REPO:TAG)`);
  }
  const loc: RegistryLocation = { host, repository: rest };
  if (tag !== undefined) loc.tag = tag;
  if (digest !== undefined) loc.digest = digest;
  return loc;
}

function checkHost(host: string, input: string): void {
  const m = /^(.*?)(?::(\d{1,5}))?$/.exec(host);
  const name = m?.[1] ?? '';
  const port = m?.[2];
  if (name === '' || !(HOSTNAME.test(name) || IPV6.test(name)) || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
    throw new UsageError(`invalid registry URL "${input}": "${host}" is not a HOST[:PORT]`);
  }
}

/** A registry URL naming one image to pull; `latest` when neither tag nor digest is given. */
export function registrySource(input: string): RegistryLocation & { repository: string } {
  const loc = parseRegistryUrl(input);
  if (loc.repository === '') throw new UsageError(`registry URL "${input}" names no repository: write registry://HOST/REPOSITORY[:TAG]`);
  if (loc.tag === undefined && loc.digest === undefined) loc.tag = 'latest';
  return loc;
}

/** A registry URL to push to: a namespace, or (with a tag) one exact repository and tag. */
export function registryTarget(input: string): RegistryLocation {
  const loc = parseRegistryUrl(input);
  if (loc.digest !== undefined) throw new UsageError(`registry target "${input}" has a digest; push to a tag or a namespace (registry://HOST/NS)`);
  return loc;
}

/**
 * Where one name of an image goes under a target (the rule above). Returns
 * undefined for a name that does not parse as an image reference.
 */
export function targetFor(target: RegistryLocation, imageName: string): { repository: string; tag: string } | undefined {
  if (target.tag !== undefined) return { repository: target.repository, tag: target.tag };
  let parsed;
  try {
    parsed = parseReference(imageName);
  } catch {
    return undefined;
  }
  const last = parsed.repository.split('/').pop() as string;
  return { repository: target.repository === '' ? last : `${target.repository}/${last}`, tag: parsed.tag ?? 'latest' };
}

/** `host/repo:tag` or `host/repo@digest`, for messages and names. */
export function formatLocation(loc: { host: string; repository: string; tag?: string; digest?: string }): string {
  return `${loc.host}/${loc.repository}${loc.tag !== undefined ? `:${loc.tag}` : ''}${loc.digest !== undefined ? `@${loc.digest}` : ''}`;
}

/** The host that serves the API: Docker Hub's name differs from the one in references. */
export function apiHost(host: string): string {
  return host === 'docker.io' || host === 'index.docker.io' ? 'registry-1.docker.io' : host;
}

/** 127.0.0.0/8, localhost and ::1 (with or without a port): plain HTTP is allowed there. */
export function isLoopbackHost(host: string): boolean {
  let name = host;
  if (name.startsWith('[')) name = name.slice(1, name.indexOf(']'));
  else name = name.replace(/:\d+$/, '');
  name = name.toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost') || name === '::1' || name === '0:0:0:0:0:0:0:1') return true;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  return v4 !== null && v4[1] === '127' && v4.slice(1).every((o) => Number(o) <= 255);
}
