import { UsageError } from '../errors.js';

const DEFAULT_REGISTRY = 'docker.io';

/** A parsed image reference: registry host, repository path, and a tag and/or digest. */
export interface Reference {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/**
 * Parse a reference the way the docker CLI does: the first component is a
 * registry when it has a dot or colon or is `localhost`; Docker Hub names
 * without a namespace get `library/`; no tag and no digest means `latest`.
 */
export function parseReference(input: string): Reference {
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new UsageError(`invalid image reference "${input}": bad digest`);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw new UsageError(`invalid image reference "${input}": bad tag "${tag}"`);
  }
  const parts = rest.split('/');
  let registry = DEFAULT_REGISTRY;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) {
    throw new UsageError(`invalid image reference "${input}": repository names are lowercase letters, digits and separators`);
  }
  if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift('library');
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref: Reference = { registry, repository: parts.join('/') };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `docker.io/library/app:1` — the name containerd records. */
export function fullName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** `app:1` — the name Docker shows in RepoTags. */
export function familiarName(ref: Reference): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (ref.registry === DEFAULT_REGISTRY) {
    name = ref.repository.startsWith('library/') ? ref.repository.slice('library/'.length) : ref.repository;
  }
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** Normalise a name to its full form for comparisons; returns undefined when it does not parse. */
export function canonicalName(input: string): string | undefined {
  try {
    return fullName(parseReference(input));
  } catch {
    return undefined;
  }
}

/** `app` of `docker.io/library/app:1` in familiar form, without tag or digest. */
export function familiarRepository(ref: Reference): string {
  return familiarName({ registry: ref.registry, repository: ref.repository });
}
