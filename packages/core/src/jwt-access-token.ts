import { KeyObject, type webcrypto } from 'node:crypto';
import { errors as joseErrors } from 'jose';
import type { CompactJWSHeaderParameters, FlattenedJWSInput, JWTPayload, JWTVerifyGetKey } from 'jose';
import { readCompactToken, type CompactJws } from './compact-jws.js';
import { BearerGuardError, type BearerErrorCode } from './errors.js';
import { epochSeconds } from './internal/numeric-date.js';
import { validateClaims, type ClaimChecks } from './jwt-claims.js';
import { keyMismatch, verifySignatureInPool, type VerificationKey as SignatureKey } from './jws-signature.js';
import type { VerificationKey } from './local-keys.js';
import type { ResolvedIssuer } from './options.js';
import { STATIC_KEYS, type KeyHolder } from './token-cache.js';

export { RFC9068_REQUIRED_CLAIMS } from './jwt-claims.js';

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

/**
 * `parsed`: the token's one parse, when the caller has it (the guard routed by it). Answers at
 * once (a result, or a throw) when nothing asynchronous is needed (an HS* token, a malformed one);
 * else a promise: the signature is checked on libuv's pool.
 */
export type VerifyJwtAccessToken = (token: string, parsed?: CompactJws) => VerifiedJwt | Promise<VerifiedJwt>;

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

const keyObjects = new WeakMap<object, SignatureKey>();

/**
 * The node:crypto form of a key jose's key set resolved (a `CryptoKey`), made once per key: a key
 * set's keys are imported once per load, so this is one conversion per key, not per token.
 */
function signatureKey(key: unknown): SignatureKey {
  if (key instanceof KeyObject || key instanceof Uint8Array) return key;
  const known = keyObjects.get(key as object);
  if (known !== undefined) return known;
  const converted = KeyObject.from(key as webcrypto.CryptoKey);
  keyObjects.set(key as object, converted);
  return converted;
}

// The internal cause is jose's error of the same meaning, as when jose's `jwtVerify` ran these
// steps: code that logs or inspects `cause` (`ERR_JWS_SIGNATURE_VERIFICATION_FAILED`) keeps working.
const CAUSES: Partial<Record<BearerErrorCode, new (message: string) => Error>> = {
  ERR_BEARER_TOKEN_SIGNATURE_INVALID: joseErrors.JWSSignatureVerificationFailed,
  ERR_BEARER_TOKEN_ALGORITHM_REJECTED: joseErrors.JOSEAlgNotAllowed,
  ERR_BEARER_TOKEN_MALFORMED: joseErrors.JWSInvalid,
};

function refuse(code: BearerErrorCode, reason: string): BearerGuardError {
  const Cause = CAUSES[code] ?? Error;
  return new BearerGuardError(code, { cause: new Cause(reason) });
}

/**
 * The JOSE Header rules of RFC 7515 §5.2 that apply before the key is chosen: `crit` (§4.1.11:
 * only `b64` is understood, and a JWT never has an unencoded payload, RFC 7797 §7), and an `alg`
 * from the allow-list (RFC 8725 §3.1; `none` is never on it).
 */
function checkHeader(header: Readonly<Record<string, unknown>>, algorithms: ReadonlySet<string>): string {
  const { crit, alg } = header;
  if (crit !== undefined) {
    if (
      !Array.isArray(crit) ||
      crit.length === 0 ||
      crit.some((name) => typeof name !== 'string' || name === '') ||
      new Set(crit).size !== crit.length
    ) {
      throw refuse('ERR_BEARER_TOKEN_MALFORMED', 'crit is not a list of distinct names');
    }
    if (crit.some((name) => name !== 'b64')) {
      throw refuse('ERR_BEARER_TOKEN_MALFORMED', 'crit names an extension that is not understood');
    }
    if (typeof header['b64'] !== 'boolean')
      throw refuse('ERR_BEARER_TOKEN_MALFORMED', 'b64 is not a boolean');
    if (!header['b64']) throw refuse('ERR_BEARER_TOKEN_MALFORMED', 'a JWT with an unencoded payload');
  }
  if (typeof alg !== 'string' || alg === '') throw refuse('ERR_BEARER_TOKEN_MALFORMED', 'no alg');
  if (!algorithms.has(alg)) throw refuse('ERR_BEARER_TOKEN_ALGORITHM_REJECTED', `alg ${alg} is not allowed`);
  return alg;
}

/**
 * Whether `key` verifies the signature, checked on libuv's pool (verifySignatureInPool); a key that
 * cannot serve `alg` is ALGORITHM_REJECTED, at once.
 */
function signatureHolds(
  alg: string,
  key: unknown,
  jws: CompactJws,
  signature: Buffer,
): boolean | Promise<boolean> {
  const prepared = signatureKey(key);
  const mismatch = keyMismatch(alg, prepared);
  if (mismatch !== undefined) throw refuse('ERR_BEARER_TOKEN_ALGORITHM_REJECTED', mismatch);
  return verifySignatureInPool(alg, prepared, Buffer.from(jws.signingInput, 'latin1'), signature);
}

/**
 * Several keys of the set match the token (a duplicate `kid`, or kid-less keys and token): try each,
 * up to {@link MAX_CANDIDATE_KEYS}; the first whose signature verifies wins.
 */
async function verifyWithCandidates(
  alg: string,
  candidates: joseErrors.JWKSMultipleMatchingKeys,
  jws: CompactJws,
  signature: Buffer,
): Promise<unknown> {
  let tried = 0;
  for await (const candidate of candidates) {
    if (await signatureHolds(alg, candidate, jws, signature)) return candidate;
    if (++tried >= MAX_CANDIDATE_KEYS) break; // ends jose's generator: the other keys are not even imported
  }
  throw refuse(
    'ERR_BEARER_TOKEN_SIGNATURE_INVALID',
    `no signature check passed with the first ${String(tried)} of the matching keys`,
  );
}

/**
 * Build the verifier for one issuer. It runs the JWS steps of RFC 7515 §5.2 itself on the token's
 * one parse (compact-jws.ts): the header rules, the key (jose's key set selection by `kid`, `alg`,
 * `kty`, `use` and `key_ops`, or the configured key), the algorithm/key binding (jws-signature.ts:
 * RSA of 2048 bits or more, each ES* on its own curve, EdDSA on Ed25519/Ed448), and the signature
 * with node:crypto's `verify` on libuv's pool (verifySignatureInPool: the event loop serves other
 * requests meanwhile, and answers leave in bursts); then the claims (jwt-claims.ts). A key jose
 * chose before for the token's `alg` and `kid` is taken without asking jose again. When several
 * keys match, each is tried (up to {@link MAX_CANDIDATE_KEYS}).
 *
 * Does NOT check scopes (routes do), nor revocation (use introspection for that).
 *
 * @see RFC 7515 §5.2, RFC 9068 §4 (validating JWT access tokens), RFC 8725 §3 (JWT best current practices)
 */
export function createJwtVerifier(
  issuer: ResolvedIssuer,
  key: VerificationKey,
  checks: JwtCheckOptions,
  keys: KeyHolder = STATIC_KEYS,
): VerifyJwtAccessToken {
  const algorithms = new Set<string>(issuer.algorithms);
  const claimChecks: ClaimChecks = {
    issuer: issuer.issuer,
    audiences: issuer.audiences,
    clockTolerance: checks.clockTolerance,
    maxTokenAge: checks.maxTokenAge,
    strict: checks.profile === 'rfc9068',
  };
  /** The steps after the key: its signature check, then the claims. */
  const finish = (
    jws: CompactJws,
    alg: string,
    signature: Buffer,
    verifiedBy: unknown,
    generation: number,
  ) => {
    const claimsHold = (holds: boolean) => {
      if (!holds) throw refuse('ERR_BEARER_TOKEN_SIGNATURE_INVALID', 'the signature does not verify');
      const payload = jws.claims as JWTPayload;
      validateClaims(jws.header, payload, claimChecks, epochSeconds());
      return { payload, key: verifiedBy, keys, generation };
    };
    const holds = signatureHolds(alg, verifiedBy, jws, signature);
    return typeof holds === 'boolean' ? claimsHold(holds) : holds.then(claimsHold);
  };
  return (token, parsed) => {
    const generation = keys.generation;
    try {
      const jws = parsed ?? readJws(token);
      const alg = checkHeader(jws.header, algorithms);
      const signature = Buffer.from(jws.signature, 'base64url');
      if (typeof key !== 'function') return finish(jws, alg, signature, key, generation);
      // A key jose chose for this `alg` and `kid` from the keys as loaded now: no selection, no import.
      const known = keys.knownKey?.(alg, jws.header['kid']);
      if (known !== undefined) return finish(jws, alg, signature, known, generation);
      return selectKey(key, alg, jws, signature).then(
        (verifiedBy) => finish(jws, alg, signature, verifiedBy, generation),
        (error: unknown) => {
          throw classifyJoseError(error);
        },
      );
    } catch (error) {
      throw classifyJoseError(error);
    }
  };
}

/**
 * The key set's key for the token (jose's selection), or, when several match, the first of them
 * whose signature verifies.
 */
async function selectKey(
  key: JWTVerifyGetKey,
  alg: string,
  jws: CompactJws,
  signature: Buffer,
): Promise<unknown> {
  const input: FlattenedJWSInput = {
    protected: jws.signingInput.slice(0, jws.signingInput.indexOf('.')),
    payload: jws.signingInput.slice(jws.signingInput.indexOf('.') + 1),
    signature: jws.signature,
  };
  try {
    return await key(jws.header as CompactJWSHeaderParameters, input);
  } catch (error) {
    if (!(error instanceof joseErrors.JWKSMultipleMatchingKeys)) throw error;
    return await verifyWithCandidates(alg, error, jws, signature);
  }
}

function readJws(token: string): CompactJws {
  const read = readCompactToken(token);
  if (read.kind !== 'jws') throw refuse('ERR_BEARER_TOKEN_MALFORMED', 'not a JWS');
  return read;
}
