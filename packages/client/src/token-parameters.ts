import type { TokenClientConfigurationErrorCode } from './errors.js';
import { invalid } from './internal/validate.js';

/** What a token is asked for: the grant's `scope` and RFC 8707 `resource` parameters. */
export interface TokenParameters {
  /** Space-delimited, sorted and de-duplicated; `undefined` when no scope is requested. */
  readonly scope: string | undefined;
  /** Sorted and de-duplicated resource indicators; empty when none is requested. */
  readonly resource: readonly string[];
}

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

type Code = TokenClientConfigurationErrorCode;

/**
 * A scope as a space-delimited string or a list of scope tokens, normalised. The order is not
 * significant (RFC 6749 §3.3 "the strings are order-independent"), so `'b a'` and `['a', 'b']`
 * share one cached token. An empty string or list means "no scope".
 *
 * @see RFC 6749 §3.3
 */
export function normalizeScope(path: string, value: unknown, code: Code): string | undefined {
  let tokens: unknown[];
  if (typeof value === 'string') tokens = value.split(' ').filter((token) => token !== '');
  else if (Array.isArray(value)) tokens = value as unknown[];
  else throw invalid(path, value, 'a space-delimited string or an array of scope tokens', { code });
  for (const token of tokens) {
    if (typeof token !== 'string' || !SCOPE_TOKEN.test(token)) {
      throw invalid(
        path,
        token,
        'made of RFC 6749 §3.3 scope tokens (printable ASCII, no space, `"` or `\\`)',
        {
          code,
        },
      );
    }
  }
  const unique = [...new Set(tokens as string[])].sort();
  return unique.length === 0 ? undefined : unique.join(' ');
}

/**
 * One resource indicator or a list of them, normalised. Each must be an absolute URI without a
 * fragment (RFC 8707 §2). Resource indicators are identifiers, not locations, so http is allowed.
 *
 * @see RFC 8707 §2
 */
export function normalizeResource(path: string, value: unknown, code: Code): string[] {
  if (typeof value !== 'string' && !Array.isArray(value)) {
    throw invalid(path, value, 'an absolute URI or an array of absolute URIs', { code });
  }
  const list: unknown[] = typeof value === 'string' ? [value] : (value as unknown[]);
  for (const entry of list) {
    let url: URL | undefined;
    try {
      url = typeof entry === 'string' ? new URL(entry) : undefined;
    } catch {
      url = undefined;
    }
    if (url?.hash !== '' || (typeof entry === 'string' && entry.includes('#'))) {
      throw invalid(path, entry, 'an absolute URI without a fragment, such as "https://orders.example"', {
        code,
      });
    }
  }
  return [...new Set(list as string[])].sort();
}

/** The cache key of one (scope, resource) combination. */
export function parametersKey(parameters: TokenParameters): string {
  return JSON.stringify([parameters.scope ?? '', parameters.resource]);
}
