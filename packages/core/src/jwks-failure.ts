import { base64url, errors as joseErrors } from 'jose';
import type { FlattenedJWSInput } from 'jose';
import { DiscoveryError } from './discovery.js';
import { BearerGuardError } from './errors.js';

/** `Retry-After` (whole seconds, at least 1) for a wait of `ms`. */
const retryAfter = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

/**
 * The key set cannot be had: a 503 with the cause of the last failed load, the discovery code
 * when the `jwks_uri` itself could not be found. `retryInterval` is how soon a load is tried again.
 */
export function keySetUnavailable(lastFailure: unknown, retryInterval: number): BearerGuardError {
  const code =
    lastFailure instanceof DiscoveryError
      ? 'ERR_BEARER_DISCOVERY_UNAVAILABLE'
      : 'ERR_BEARER_JWKS_UNAVAILABLE';
  return new BearerGuardError(code, { cause: lastFailure, retryAfter: retryAfter(retryInterval) });
}

/**
 * A lookup failure other than an unknown key. jose selected a key of the set and could not import
 * it: a malformed or mislabelled JWK (WebCrypto's `DataError` for a point off its curve, a bad
 * `x`, a missing member) or a private key (`JWKSInvalid`). That is the server's fault, and the
 * token may be good: 503, as for a set that cannot be fetched, never a 500 or a 401. jose's own
 * verdicts on the token (an unsupported `alg`, several matching keys) pass through.
 */
export function unusableKey(error: unknown, issuer: string, retryInterval: number): unknown {
  if (error instanceof joseErrors.JOSEError && !(error instanceof joseErrors.JWKSInvalid)) return error;
  return new BearerGuardError('ERR_BEARER_JWKS_UNAVAILABLE', {
    cause: new Error(`the key set of ${issuer} has a key for this token that cannot be used`, {
      cause: error,
    }),
    retryAfter: retryAfter(retryInterval),
  });
}

/**
 * Whether the (not yet verified) claims name `issuer`; undecodable claims do not. A key the set
 * lacks is a reason to refetch only for a token of ours (see `RemoteKeySet`).
 */
export function namesIssuer(input: FlattenedJWSInput, issuer: string): boolean {
  try {
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(input.payload))) as unknown;
    return typeof claims === 'object' && claims !== null && 'iss' in claims && claims.iss === issuer;
  } catch {
    return false;
  }
}
