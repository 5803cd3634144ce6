import { KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyOptions, JWTVerifyResult } from 'jose';
import { readConfirmation } from './confirmation.js';
import { BearerGuardError, type BearerErrorCode } from './errors.js';
import { isBoundedExp } from './internal/numeric-date.js';
import { fitsKey, type VerificationKey } from './local-keys.js';
import type { ResolvedIssuer } from './options.js';
import { STATIC_KEYS, type KeyHolder } from './token-cache.js';

/** RFC 9068 §2.2: claims a JWT access token must carry. */
export const RFC9068_REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'] as const;

// RFC 9068 §4 names `at+jwt`; plain `JWT` (RFC 7519 §5.1) and no `typ` are what most servers still
// issue, so they are accepted unless `profile: 'rfc9068'` is chosen. Compared as media types
// (RFC 7515 §4.1.9): case-insensitively, and the `application/` prefix may be left out.
const LENIENT_TYPES = new Set(['application/at+jwt', 'application/jwt']);

function mediaType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.includes('/') ? lower : `application/${lower}`;
}

// RFC 7519 §4.1.2, RFC 9068 §2.2, RFC 7662 §2.2: string claims. `sub`, `client_id` and `azp` are what
// the principal reads; one of another type (`"sub": 1`) would reach req.auth as "absent", so it is
// refused in every profile. RFC 9068 adds `jti`.
const STRING_CLAIMS = ['sub', 'client_id', 'azp'] as const;
const RFC9068_STRING_CLAIMS = [...STRING_CLAIMS, 'jti'] as const;

/**
 * Most keys tried for one token when several match its `kid` and `alg` (RFC 7517 §4.5 makes `kid`
 * optional, and a rotation may publish a new key under an old `kid`). A rotation overlaps at most
 * the previous, the current and the next key; one more leaves room for an emergency replacement.
 * Past the bound the token is refused as SIGNATURE_INVALID: a key set listing a thousand keys under
 * one `kid` must not cost a thousand signature checks per request.
 */
export const MAX_CANDIDATE_KEYS = 4;

export interface JwtCheckOptions {
  clockTolerance: number;
  maxTokenAge: number | undefined;
  profile: 'default' | 'rfc9068';
}

/** A verified token, and the key and key set that verified it (for the verified-token cache). */
export interface VerifiedJwt {
  payload: JWTPayload;
  /** The key whose signature check passed: one of a key set's, or the configured key. */
  key: unknown;
  /** Where the key came from: a cached token is served only while its key is still there. */
  keys: KeyHolder;
  /** `keys.generation` read before the key was looked up, so never newer than the key. */
  generation: number;
}

export type VerifyJwtAccessToken = (token: string) => Promise<VerifiedJwt>;

const CLAIM_CODES: Partial<Record<string, BearerErrorCode>> = {
  iss: 'ERR_BEARER_TOKEN_ISSUER_INVALID',
  aud: 'ERR_BEARER_TOKEN_AUDIENCE_INVALID',
  nbf: 'ERR_BEARER_TOKEN_NOT_YET_VALID',
  // With `maxTokenAge`, jose itself refuses an `iat` in the future.
  iat: 'ERR_BEARER_TOKEN_NOT_YET_VALID',
  typ: 'ERR_BEARER_TOKEN_TYPE_INVALID',
};

/**
 * Classify a verification failure. Token problems become 401 `invalid_token` with a code per
 * reason; our own 503s pass through; anything else is a bug and is rethrown unchanged, so an
 * outage or a defect never masquerades as a bad token.
 */
export function classifyJoseError(error: unknown): unknown {
  if (error instanceof BearerGuardError) return error;
  const code = ((): BearerErrorCode | undefined => {
    if (error instanceof joseErrors.JWTExpired) {
      return error.claim === 'iat' ? 'ERR_BEARER_TOKEN_TOO_OLD' : 'ERR_BEARER_TOKEN_EXPIRED';
    }
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      // A missing claim or one of the wrong type (`"nbf": "soon"`) is CLAIM_INVALID (docs/errors.md);
      // only a failed comparison is an issuer, audience, nbf or typ problem.
      if (error.reason === 'missing' || error.reason === 'invalid') return 'ERR_BEARER_TOKEN_CLAIM_INVALID';
      return CLAIM_CODES[error.claim] ?? 'ERR_BEARER_TOKEN_CLAIM_INVALID';
    }
    if (error instanceof joseErrors.JWSSignatureVerificationFailed)
      return 'ERR_BEARER_TOKEN_SIGNATURE_INVALID';
    if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'ERR_BEARER_TOKEN_ALGORITHM_REJECTED';
    if (
      error instanceof joseErrors.JWKSNoMatchingKey ||
      error instanceof joseErrors.JWKSMultipleMatchingKeys
    ) {
      return 'ERR_BEARER_TOKEN_KEY_UNKNOWN';
    }
    if (error instanceof joseErrors.JOSEError) return 'ERR_BEARER_TOKEN_MALFORMED';
    // jose raises TypeError when the header's alg does not fit the key type (e.g. HS256 and an RSA key).
    if (error instanceof TypeError) return 'ERR_BEARER_TOKEN_ALGORITHM_REJECTED';
    return undefined;
  })();
  return code === undefined ? error : new BearerGuardError(code, { cause: error });
}

function invalidClaim(message: string): BearerGuardError {
  return new BearerGuardError('ERR_BEARER_TOKEN_CLAIM_INVALID', { cause: new Error(message) });
}

/** The checks jose leaves to us, on a token whose signature and registered claims it accepted. */
function checkClaims(payload: JWTPayload, typ: unknown, strict: boolean, clockTolerance: number): void {
  // jose has checked that `exp` is present, a number and not past (RFC 7519 §4.1.4); it does not
  // check that it is within the range of a Date.
  if (payload.exp === undefined || !isBoundedExp(payload.exp)) {
    throw invalidClaim(`exp ${String(payload.exp)} is beyond the range of a date`);
  }
  // `typ` is whatever JSON the header holds: a number must be TYPE_INVALID, not a TypeError here.
  // With the rfc9068 profile jose has compared it already (its `typ` option normalises the same way).
  if (!strict && typ !== undefined && (typeof typ !== 'string' || !LENIENT_TYPES.has(mediaType(typ)))) {
    throw new BearerGuardError('ERR_BEARER_TOKEN_TYPE_INVALID', {
      cause: new Error(`typ ${JSON.stringify(typ)}`),
    });
  }
  for (const claim of strict ? RFC9068_STRING_CLAIMS : STRING_CLAIMS) {
    const value = payload[claim];
    if (value !== undefined && typeof value !== 'string') throw invalidClaim(`${claim} is not a string`);
  }
  // RFC 7519 §4.1.6: `iat` is when the token was issued; one from the future (beyond the tolerance)
  // was minted ahead of its use. jose checks this only with `maxTokenAge`, and `iat`'s type always.
  if (payload.iat !== undefined && payload.iat > Math.floor(Date.now() / 1000) + clockTolerance) {
    throw new BearerGuardError('ERR_BEARER_TOKEN_NOT_YET_VALID', {
      cause: new Error('iat is in the future'),
    });
  }
  // A `cnf` must be an object (RFC 7800 §3.1). Whether its binding holds is the guard's check, on
  // every request, cached or not (RFC 9449 §6.1, RFC 8705 §3): it depends on the request's proof.
  readConfirmation(payload);
}

/**
 * Several keys of the set match the token (a duplicate `kid`, or kid-less keys and token): try each,
 * up to {@link MAX_CANDIDATE_KEYS}; the first whose signature verifies wins. Any other failure (an
 * expired token verified by the right key) is that token's answer.
 */
async function verifyWithCandidates(
  token: string,
  candidates: joseErrors.JWKSMultipleMatchingKeys,
  options: JWTVerifyOptions,
): Promise<JWTVerifyResult & { key: unknown }> {
  let tried = 0;
  for await (const candidate of candidates) {
    try {
      return { ...(await jwtVerify(token, candidate, options)), key: candidate };
    } catch (error) {
      if (!(error instanceof joseErrors.JWSSignatureVerificationFailed)) throw error;
    }
    if (++tried >= MAX_CANDIDATE_KEYS) break; // ends jose's generator: the other keys are not even imported
  }
  throw new joseErrors.JWSSignatureVerificationFailed(
    `no signature check passed with the first ${String(tried)} of the matching keys`,
  );
}

/**
 * Build the verifier for one issuer: signature with the allowed algorithms (trying each key when
 * several match), `iss` exact, `aud` containing a configured audience, `exp` required and numeric,
 * `nbf` and `iat` not in the future beyond the tolerance, optional `maxTokenAge`, `typ`, string
 * `sub`/`client_id` (and, with the rfc9068 profile, the RFC 9068 §2.2 claims), and a well-formed `cnf`
 * (the binding itself is checked by the guard against the request). Most of it is jose's `jwtVerify`, which this gives the options and
 * the key.
 *
 * Does NOT check scopes (routes do), nor revocation (use introspection for that).
 *
 * @see RFC 9068 §4 (validating JWT access tokens), RFC 8725 §3 (JWT best current practices)
 */
export function createJwtVerifier(
  issuer: ResolvedIssuer,
  key: VerificationKey,
  checks: JwtCheckOptions,
  keys: KeyHolder = STATIC_KEYS,
): VerifyJwtAccessToken {
  const strict = checks.profile === 'rfc9068';
  const options: JWTVerifyOptions = {
    // With a single static key, an `alg` that does not fit it (RS256 against an EC key) must be
    // ALGORITHM_REJECTED; jose would otherwise fail converting the key and report JOSENotSupported.
    algorithms:
      key instanceof KeyObject
        ? issuer.algorithms.filter((alg) => fitsKey(alg, key))
        : [...issuer.algorithms],
    issuer: issuer.issuer,
    audience: [...issuer.audiences],
    clockTolerance: checks.clockTolerance,
    requiredClaims: strict ? [...RFC9068_REQUIRED_CLAIMS] : ['exp'],
  };
  if (checks.maxTokenAge !== undefined) options.maxTokenAge = checks.maxTokenAge;
  if (strict) options.typ = 'at+jwt'; // jose compares media types: any case, "application/" optional
  // One async frame around jose's: the cold path pays for every promise on the way.
  return async (token) => {
    const generation = keys.generation;
    try {
      let result: JWTVerifyResult & { key?: unknown };
      if (typeof key === 'function') {
        try {
          result = await jwtVerify(token, key, options);
        } catch (error) {
          if (!(error instanceof joseErrors.JWKSMultipleMatchingKeys)) throw error;
          result = await verifyWithCandidates(token, error, options);
        }
      } else {
        result = await jwtVerify(token, key, options);
      }
      const { payload, protectedHeader } = result;
      checkClaims(payload, protectedHeader.typ, strict, checks.clockTolerance);
      return { payload, key: result.key ?? key, keys, generation };
    } catch (error) {
      throw classifyJoseError(error);
    }
  };
}
