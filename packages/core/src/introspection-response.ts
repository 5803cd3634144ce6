import { readConfirmation, refuseBoundToken } from './confirmation.js';
import { BearerGuardError } from './errors.js';
import { isBoundedExp } from './internal/numeric-date.js';

export interface IntrospectionChecks {
  issuer: string;
  audiences: readonly string[];
  /** Accept an active response without `aud`. Off by default: such a token could be meant for anyone. */
  acceptMissingAudience: boolean;
  clockTolerance: number;
  /**
   * Let tokens bound by `cnf.jkt` / `cnf.x5t#S256` (and `token_type` `DPoP`) through, for a caller
   * that checks the binding against the request itself (the guard does). Defaults to `false`: such
   * a token is refused as if it were presented as a bearer token.
   */
  boundTokens?: boolean | undefined;
}

function fail(code: ConstructorParameters<typeof BearerGuardError>[0], reason: string): never {
  throw new BearerGuardError(code, { cause: new Error(reason) });
}

/**
 * The checks of an introspection response that time can change: `exp` and `nbf`, when present,
 * with the same tolerance as JWTs. Throws a 401 `BearerGuardError` when the token is not valid now.
 */
export function checkIntrospectionTimes(
  claims: Readonly<Record<string, unknown>>,
  clockTolerance: number,
  nowSeconds: number,
): void {
  const { exp, nbf } = claims;
  if (exp !== undefined) {
    if (typeof exp !== 'number') fail('ERR_BEARER_TOKEN_CLAIM_INVALID', 'exp is not a number');
    if (nowSeconds - clockTolerance >= exp) fail('ERR_BEARER_TOKEN_EXPIRED', 'exp passed');
    // The same order and rule as for JWTs: past is expired, beyond the range of a Date (or NaN) is invalid.
    if (!isBoundedExp(exp)) fail('ERR_BEARER_TOKEN_CLAIM_INVALID', 'exp is beyond the range of a date');
  }
  if (nbf !== undefined) {
    if (typeof nbf !== 'number') fail('ERR_BEARER_TOKEN_CLAIM_INVALID', 'nbf is not a number');
    if (nbf > nowSeconds + clockTolerance) fail('ERR_BEARER_TOKEN_NOT_YET_VALID', 'nbf in the future');
  }
}

/**
 * Decide whether an introspection response makes the token valid here. Throws a 401
 * `BearerGuardError` when it does not.
 *
 * - `active` must be the boolean `true` (RFC 7662 §2.2); `"true"` or anything else is inactive.
 * - `exp` / `nbf`, when present, are checked with the same tolerance as JWTs: the server's word
 *   may have been cached, and a token must never outlive its `exp`. An `exp` beyond the range of
 *   a Date (e.g. `1e308`) is an invalid claim, as for JWTs (RFC 7519 §4.1.4 NumericDate).
 * - `iss`, when present, must be the configured issuer.
 * - `aud` must contain a configured audience (RFC 7662 §4: the resource server must check the
 *   token is meant for it); a response without `aud` is refused unless `acceptMissingAudience`.
 * - `token_type`, when present, must be `Bearer` (compared case-insensitively, RFC 6749 §5.1);
 *   `DPoP` is a sender-constrained token (RFC 9449 §7.1), refused as one.
 * - `cnf` carrying `jkt` (RFC 9449 §6) or `x5t#S256` (RFC 8705 §3) binds the token to a key its
 *   presenter must prove it holds: refused until that proof is checked. Other `cnf` members do not
 *   bind by themselves; a `cnf` that is not an object is an invalid claim (see `confirmation.ts`).
 *
 * Does NOT check scopes: routes do, on every request, cached or not.
 *
 * @see RFC 7662 §2.2, §4
 */
export function checkIntrospectionClaims(
  claims: Readonly<Record<string, unknown>>,
  checks: IntrospectionChecks,
  nowSeconds: number,
): void {
  if (claims['active'] !== true) fail('ERR_BEARER_TOKEN_INACTIVE', 'active is not true');
  checkIntrospectionTimes(claims, checks.clockTolerance, nowSeconds);
  const { iss, aud, token_type: tokenType } = claims;
  if (iss !== undefined && iss !== checks.issuer)
    fail('ERR_BEARER_TOKEN_ISSUER_INVALID', `iss ${JSON.stringify(iss)}`);
  if (aud === undefined) {
    if (!checks.acceptMissingAudience) fail('ERR_BEARER_TOKEN_AUDIENCE_INVALID', 'no aud in the response');
  } else {
    const list: unknown[] = Array.isArray(aud) ? aud : [aud];
    if (!list.some((entry) => typeof entry === 'string' && checks.audiences.includes(entry))) {
      fail('ERR_BEARER_TOKEN_AUDIENCE_INVALID', 'aud does not contain a configured audience');
    }
  }
  if (tokenType !== undefined) {
    const type = typeof tokenType === 'string' ? tokenType.toLowerCase() : undefined;
    if (type === 'dpop') {
      if (checks.boundTokens !== true)
        fail('ERR_BEARER_TOKEN_SENDER_CONSTRAINED', 'token_type DPoP presented as a bearer token');
    } else if (type !== 'bearer') {
      fail('ERR_BEARER_TOKEN_TYPE_INVALID', `token_type ${JSON.stringify(tokenType)}`);
    }
  }
  // RFC 7662 §2.2: `sub`, `client_id` and `username` are strings; one of another type (`"sub": 1`)
  // would reach req.auth as "absent". The same rule as for JWTs (jwt-claims.ts), `azp` included.
  for (const claim of STRING_CLAIMS) {
    const value = claims[claim];
    if (value !== undefined && typeof value !== 'string') {
      fail('ERR_BEARER_TOKEN_CLAIM_INVALID', `${claim} is not a string`);
    }
  }
  if (checks.boundTokens === true) readConfirmation(claims);
  else refuseBoundToken(claims);
}

const STRING_CLAIMS = ['sub', 'client_id', 'azp', 'username'] as const;
