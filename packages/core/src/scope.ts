import { ConfigurationError } from './errors.js';

/**
 * Scopes granted by a token, read from the configured claims. A string is split on spaces
 * (RFC 6749 §3.3, RFC 9068 §2.2.3); an array contributes its string entries (`scp`, `permissions`).
 * Anything else is ignored rather than guessed at.
 */
export function readScopes(
  claims: Readonly<Record<string, unknown>>,
  claimNames: readonly string[],
): string[] {
  const scopes = new Set<string>();
  for (const name of claimNames) {
    const value = claims[name];
    if (typeof value === 'string') {
      for (const scope of value.split(' ')) if (scope !== '') scopes.add(scope);
    } else if (Array.isArray(value)) {
      for (const scope of value) if (typeof scope === 'string' && scope !== '') scopes.add(scope);
    }
  }
  return [...scopes];
}

/**
 * Whether `granted` satisfies `required`: every one (`'all'`) or at least one (`'any'`).
 * Matching is exact and case-sensitive (RFC 6749 §3.3): `reader`, `READ` and `read:all` do not
 * satisfy `read`.
 */
export function matchScopes(
  required: readonly string[],
  granted: readonly string[],
  mode: 'all' | 'any',
): boolean {
  return mode === 'all'
    ? required.every((scope) => granted.includes(scope))
    : required.some((scope) => granted.includes(scope));
}

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * Validate the scopes a route requires, at construction. Accepts strings and arrays of strings;
 * throws `ConfigurationError` naming the caller for an empty list or a value that is not one
 * RFC 6749 §3.3 scope-token (so `'read write'` is refused: pass `'read', 'write'`).
 */
export function requiredScopes(caller: string, scopes: readonly (string | readonly string[])[]): string[] {
  const list = scopes.flat();
  if (list.length === 0) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      `bearer-guard: ${caller}() needs at least one scope, e.g. ${caller}('orders:read').`,
    );
  }
  for (const scope of list) {
    if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope)) {
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        `bearer-guard: ${caller}() got ${JSON.stringify(scope)}, which is not one scope (RFC 6749 §3.3: printable ASCII, ` +
          `no spaces, quotes or backslashes). Pass several scopes as separate arguments: ${caller}('a', 'b').`,
      );
    }
  }
  return list;
}
