import { createPublicKey, KeyObject, type JsonWebKeyInput } from 'node:crypto';
import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { BearerGuardError, type BearerErrorCode } from './errors.js';
import { isBoundedExp } from './internal/numeric-date.js';
import type { ResolvedIssuer } from './options.js';

/** RFC 9068 §2.2: claims a JWT access token must carry. */
export const RFC9068_REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'] as const;

// RFC 9068 §4 names `at+jwt` (and its full media type); plain `JWT` and no `typ` are what most
// servers still issue, so they are accepted unless `profile: 'rfc9068'` is chosen.
const LENIENT_TYPES = new Set(['at+jwt', 'application/at+jwt', 'jwt']);

export interface JwtCheckOptions {
  clockTolerance: number;
  maxTokenAge: number | undefined;
  profile: 'default' | 'rfc9068';
}

export type VerifyJwtAccessToken = (token: string) => Promise<JWTPayload>;

/** Turn the configured key into jose's key argument. Never reads `jwk`/`jku`/`x5u`/`x5c` headers. */
export function staticKey(issuer: ResolvedIssuer): JWTVerifyGetKey | KeyObject | Uint8Array | undefined {
  const source = issuer.keySource;
  switch (source?.kind) {
    case 'jwks':
      return createLocalJWKSet(source.jwks);
    case 'publicKey': {
      const key = source.publicKey;
      // A private key given by mistake yields its public half; a malformed one throws at start-up.
      // createPublicKey() only derives from a *private* KeyObject and throws on a public one.
      if (key instanceof KeyObject && key.type === 'public') return key;
      if (typeof key === 'string' || key instanceof KeyObject) return createPublicKey(key);
      return createPublicKey({ key: key as JsonWebKeyInput['key'], format: 'jwk' });
    }
    case 'secret':
      return source.secret;
    case 'jwksUri':
    case 'discovery':
    case undefined:
      return undefined;
  }
}

const CLAIM_CODES: Partial<Record<string, BearerErrorCode>> = {
  iss: 'ERR_BEARER_TOKEN_ISSUER_INVALID',
  aud: 'ERR_BEARER_TOKEN_AUDIENCE_INVALID',
  nbf: 'ERR_BEARER_TOKEN_NOT_YET_VALID',
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

// With a single static key, an `alg` that does not fit it (RS256 against an EC key) must be
// ALGORITHM_REJECTED; jose would otherwise fail converting the key and report JOSENotSupported.
const ALGORITHMS_BY_KEY: Readonly<Record<string, readonly string[]>> = {
  rsa: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  'rsa-pss': ['PS256', 'PS384', 'PS512'],
  prime256v1: ['ES256'],
  secp384r1: ['ES384'],
  secp521r1: ['ES512'],
  ed25519: ['EdDSA', 'Ed25519'],
  ed448: ['EdDSA'],
};

function fitsKey(alg: string, key: KeyObject): boolean {
  const type = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : key.asymmetricKeyType;
  return ALGORITHMS_BY_KEY[type ?? '']?.includes(alg) ?? false;
}

/**
 * Build the verifier for one issuer: signature with the allowed algorithms, `iss` exact, `aud`
 * containing a configured audience, `exp` required and numeric, `nbf`/`iat` honoured with the
 * tolerance, optional `maxTokenAge`, and `typ`. All of it is jose's `jwtVerify`, which this gives
 * the options and the key; only `typ` leniency and the range of `exp` are checked here.
 *
 * Does NOT check scopes (routes do), nor revocation (use introspection for that).
 *
 * @see RFC 9068 §4 (validating JWT access tokens), RFC 8725 §3 (JWT best current practices)
 */
export function createJwtVerifier(
  issuer: ResolvedIssuer,
  key: JWTVerifyGetKey | KeyObject | Uint8Array,
  checks: JwtCheckOptions,
): VerifyJwtAccessToken {
  const strict = checks.profile === 'rfc9068';
  const options: JWTVerifyOptions = {
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
  if (strict) options.typ = 'at+jwt'; // jose compares with the "application/" prefix removed
  // One async frame around jose's: the cold path pays for every promise on the way.
  return async (token) => {
    try {
      const { payload, protectedHeader } =
        typeof key === 'function'
          ? await jwtVerify(token, key, options)
          : await jwtVerify(token, key, options);
      // jose has checked that `exp` is present, a number and not past (RFC 7519 §4.1.4); it does not
      // check that it is within the range of a Date.
      if (payload.exp === undefined || !isBoundedExp(payload.exp)) {
        throw new BearerGuardError('ERR_BEARER_TOKEN_CLAIM_INVALID', {
          cause: new Error(`exp ${String(payload.exp)} is beyond the range of a date`),
        });
      }
      const typ = protectedHeader.typ;
      // `typ` is whatever JSON the header holds: a number must be TYPE_INVALID, not a TypeError here.
      if (
        !strict &&
        typ !== undefined &&
        (typeof typ !== 'string' || !LENIENT_TYPES.has(typ.toLowerCase()))
      ) {
        throw new BearerGuardError('ERR_BEARER_TOKEN_TYPE_INVALID', {
          cause: new Error(`typ ${JSON.stringify(typ)}`),
        });
      }
      return payload;
    } catch (error) {
      throw classifyJoseError(error);
    }
  };
}
