import { TsbakError } from '../../errors.js';

/** What went wrong talking to a registry, for callers that branch on it. */
export type RegistryErrorKind =
  /** Connection refused, DNS, TLS: nothing HTTP came back. */
  | 'unreachable'
  /** 401: missing or refused credentials. */
  | 'auth'
  /** 403: the credentials are valid but not allowed this. */
  | 'denied'
  /** 404: repository, manifest or blob unknown. */
  | 'not-found'
  /** 400 and friends: the registry refused what we sent (errors[] included). */
  | 'rejected'
  /** Anything else: unexpected status, malformed answer. */
  | 'protocol';

/** A registry could not be reached or answered with an error; the message names the registry and the fix. */
export class RegistryError extends TsbakError {
  readonly kind: RegistryErrorKind;
  readonly statusCode: number | undefined;
  /** The registry's own error codes (`MANIFEST_INVALID`, `NAME_UNKNOWN`, …), when it sent any. */
  readonly codes: string[];
  constructor(kind: RegistryErrorKind, message: string, options: { statusCode?: number; codes?: string[]; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.kind = kind;
    this.statusCode = options.statusCode;
    this.codes = options.codes ?? [];
  }
}

/** One entry of the distribution spec's `{"errors": [...]}` body. */
export interface RegistryErrorEntry {
  code?: string;
  message?: string;
  detail?: unknown;
}

/** `CODE: message (detail)` for each entry of an error body; '' when the body has none. */
export function describeErrorBody(body: string): { text: string; codes: string[] } {
  let parsed: { errors?: RegistryErrorEntry[] } | undefined;
  try {
    parsed = JSON.parse(body) as { errors?: RegistryErrorEntry[] };
  } catch {
    const trimmed = body.trim().slice(0, 200);
    return { text: trimmed, codes: [] };
  }
  const entries = Array.isArray(parsed?.errors) ? parsed.errors : [];
  const codes = entries.map((e) => e.code ?? '').filter((c) => c !== '');
  const text = entries
    .map((e) => {
      const detail = e.detail === undefined || e.detail === null ? '' : ` (${typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)})`;
      return `${e.code ?? 'ERROR'}: ${e.message ?? ''}${detail}`.trim();
    })
    .join('; ');
  return { text, codes };
}
