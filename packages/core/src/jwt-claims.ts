import { errors as joseErrors, type JWTPayload } from 'jose';
import { readConfirmation } from './confirmation.js';
import { BearerGuardError, type BearerErrorCode } from './errors.js';
import { isBoundedExp } from './internal/numeric-date.js';

/** RFC 9068 §2.2: claims a JWT access token must carry. */
export const RFC9068_REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'] as const;

// RFC 9068 §4 names `at+jwt`; plain `JWT` (RFC 7519 §5.1) and no `typ` are what most servers still
// issue, so they are accepted unless `profile: 'rfc9068'` is chosen. Compared as media types
// (RFC 7515 §4.1.9): case-insensitively, and the `application/` prefix may be left out.
const LENIENT_TYPES = new Set(['application/at+jwt', 'application/jwt']);
const STRICT_TYPE = 'application/at+jwt';

function mediaType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.includes('/') ? lower : `application/${lower}`;
}

// RFC 7519 §4.1.2, RFC 9068 §2.2, RFC 7662 §2.2: string claims. `sub`, `client_id` and `azp` are what
// the principal reads; one of another type (`"sub": 1`) would reach req.auth as "absent", so it is
// refused in every profile. RFC 9068 adds `jti`.
const STRING_CLAIMS = ['sub', 'client_id', 'azp'] as const;
const RFC9068_STRING_CLAIMS = [...STRING_CLAIMS, 'jti'] as const;

/** What a JWT access token's claims are held to, fixed per issuer at start-up. */
export interface ClaimChecks {
  issuer: string;
  audiences: readonly string[];
  clockTolerance: number;
  maxTokenAge: number | undefined;
  /** `profile: 'rfc9068'`. */
  strict: boolean;
}

// The internal cause is jose's error of the same meaning, as when jose's `jwtVerify` ran these
// checks: code that logs or inspects `cause` (`ERR_JWT_EXPIRED`) keeps working.
const CAUSES: Partial<Record<BearerErrorCode, (reason: string, claims: JWTPayload, claim: string) => Error>> =
  {
    ERR_BEARER_TOKEN_EXPIRED: (reason, claims, claim) =>
      new joseErrors.JWTExpired(reason, claims, claim, 'check_failed'),
    ERR_BEARER_TOKEN_TOO_OLD: (reason, claims, claim) =>
      new joseErrors.JWTExpired(reason, claims, claim, 'check_failed'),
  };

function refuseClaim(code: BearerErrorCode, reason: string, claim: string, claims: JWTPayload): never {
  const cause =
    CAUSES[code]?.(reason, claims, claim) ??
    new joseErrors.JWTClaimValidationFailed(reason, claims, claim, 'check_failed');
  throw new BearerGuardError(code, { cause });
}

/** A NumericDate claim (RFC 7519 §2): absent, or a number; anything else is an invalid claim. */
function numericDate(claims: JWTPayload, claim: 'exp' | 'nbf' | 'iat'): number | undefined {
  const value = claims[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') {
    refuseClaim('ERR_BEARER_TOKEN_CLAIM_INVALID', `${claim} is not a number`, claim, claims);
  }
  return value;
}

function containsAudience(aud: unknown, audiences: readonly string[]): boolean {
  if (typeof aud === 'string') return audiences.includes(aud);
  return Array.isArray(aud) && audiences.some((entry) => aud.includes(entry));
}

/**
 * Validate the claims of a JWS whose signature has been verified (RFC 7519 §7.2 step 10; RFC 9068
 * §4): `typ`, `iss` exact, `aud` containing a configured audience, `exp` required, a number, not
 * past and within the range of a Date, `nbf` and `iat` not in the future beyond the tolerance,
 * `maxTokenAge`, string `sub`/`client_id`/`azp` (and with the rfc9068 profile its required claims
 * and string `jti`), and a well-formed `cnf` (the binding itself is checked by the guard against the request).
 *
 * The same rules and codes as jose's `jwtVerify` options gave before (presence first, then `iss`,
 * `aud`, `nbf`, `exp`, `maxTokenAge`), plus ours.
 *
 * @see RFC 7519 §4.1, RFC 9068 §2.2 and §4, RFC 7515 §4.1.9
 */
export function validateClaims(
  header: Readonly<Record<string, unknown>>,
  claims: JWTPayload,
  checks: ClaimChecks,
  nowSeconds: number,
): void {
  const { strict, clockTolerance: tolerance, maxTokenAge } = checks;
  const fail = (code: BearerErrorCode, reason: string, claim: string): never =>
    refuseClaim(code, reason, claim, claims);
  // `typ` is whatever JSON the header holds: anything but a string of an accepted type is TYPE_INVALID.
  const typ = header['typ'];
  if (strict ? typ === undefined || typeof typ !== 'string' || mediaType(typ) !== STRICT_TYPE : false) {
    fail('ERR_BEARER_TOKEN_TYPE_INVALID', `typ ${JSON.stringify(typ)}`, 'typ');
  }
  if (!strict && typ !== undefined && (typeof typ !== 'string' || !LENIENT_TYPES.has(mediaType(typ)))) {
    fail('ERR_BEARER_TOKEN_TYPE_INVALID', `typ ${JSON.stringify(typ)}`, 'typ');
  }
  const required: readonly string[] = strict ? RFC9068_REQUIRED_CLAIMS : ['iss', 'aud', 'exp'];
  for (const claim of required) {
    if (!Object.hasOwn(claims, claim)) fail('ERR_BEARER_TOKEN_CLAIM_INVALID', `missing ${claim}`, claim);
  }
  if (maxTokenAge !== undefined && !Object.hasOwn(claims, 'iat')) {
    fail('ERR_BEARER_TOKEN_CLAIM_INVALID', 'missing iat', 'iat');
  }
  if (claims.iss !== checks.issuer) fail('ERR_BEARER_TOKEN_ISSUER_INVALID', 'iss is not the issuer', 'iss');
  if (!containsAudience(claims.aud, checks.audiences)) {
    fail('ERR_BEARER_TOKEN_AUDIENCE_INVALID', 'aud does not contain a configured audience', 'aud');
  }
  const iat = numericDate(claims, 'iat');
  const nbf = numericDate(claims, 'nbf');
  if (nbf !== undefined && nbf > nowSeconds + tolerance)
    fail('ERR_BEARER_TOKEN_NOT_YET_VALID', 'nbf is in the future', 'nbf');
  const exp = numericDate(claims, 'exp');
  if (exp !== undefined && exp <= nowSeconds - tolerance)
    fail('ERR_BEARER_TOKEN_EXPIRED', 'exp passed', 'exp');
  if (maxTokenAge !== undefined && iat !== undefined && nowSeconds - iat - tolerance > maxTokenAge) {
    fail('ERR_BEARER_TOKEN_TOO_OLD', 'iat older than maxTokenAge', 'iat');
  }
  // An `exp` past the range of a Date (`1e308`) bounds nothing (RFC 7519 §4.1.4 NumericDate).
  if (exp === undefined || !isBoundedExp(exp)) {
    fail('ERR_BEARER_TOKEN_CLAIM_INVALID', `exp ${String(exp)} is beyond the range of a date`, 'exp');
  }
  // RFC 7519 §4.1.6: a token issued in the future (beyond the tolerance) was minted ahead of its use.
  if (iat !== undefined && iat > nowSeconds + tolerance) {
    fail('ERR_BEARER_TOKEN_NOT_YET_VALID', 'iat is in the future', 'iat');
  }
  for (const claim of strict ? RFC9068_STRING_CLAIMS : STRING_CLAIMS) {
    const value = claims[claim];
    if (value !== undefined && typeof value !== 'string') {
      fail('ERR_BEARER_TOKEN_CLAIM_INVALID', `${claim} is not a string`, claim);
    }
  }
  // A `cnf` must be an object (RFC 7800 §3.1). Whether its binding holds is the guard's check, on
  // every request, cached or not (RFC 9449 §6.1, RFC 8705 §3): it depends on the request's proof.
  readConfirmation(claims);
}
