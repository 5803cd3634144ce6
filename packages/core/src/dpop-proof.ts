import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

import { BearerGuardError, type BearerErrorCode } from './errors.js';
import { keyMismatch, verifySignature, verifySignatureInPool } from './jws-signature.js';
import { isPlainObject } from './internal/validate.js';

/** The asymmetric JWS algorithms a DPoP proof may use (RFC 9449 §4.3 (5), §11.6: never `none`, never a MAC). */
export const DPOP_ALGORITHMS = [
  'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519',
] as const; // prettier-ignore

/** Longest accepted `jti`: RFC 9449 §11.1 asks servers to refuse "unnecessarily large" ones. */
export const MAX_JTI_LENGTH = 256;

// Private members of any JWK (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a proof key with one
// of them would publish the client's private key, and is refused (RFC 9449 §4.3 (7)).
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
// RFC 7638 §3.2: the required members of each key type, in lexicographic order.
const THUMBPRINT_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n'],
};
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** What a proof is checked against. */
export interface DpopProofContext {
  /** The request method (`htm`, RFC 9449 §4.3 (8)). */
  method: string;
  /** The normalised request URL without query (`htu`), or `undefined` when it cannot be known. */
  url: string | undefined;
  /** The access token presented with the proof (`ath`, §4.3 (12)). */
  accessToken: string;
  algorithms: readonly string[];
  /** Acceptance window of `iat`, either way, in seconds (§4.3 (11)). */
  iatWindow: number;
  /** Leeway for an `exp` or `nbf` the proof carries, in seconds (the guard's `clockTolerance`). */
  clockTolerance: number;
  nowSeconds: number;
  /** Normalise a `htu` the same way the request URL was. */
  normalizeUrl: (text: string) => string | undefined;
}

/** A proof that passed every check of its own. */
export interface CheckedDpopProof {
  /** RFC 7638 thumbprint of the proof key, for `cnf.jkt` (§6). */
  jkt: string;
  jti: string;
  htu: string;
  iat: number;
  /** `nonce`, when the proof carries one. */
  nonce: unknown;
}

function refuse(code: BearerErrorCode, reason: string): never {
  throw new BearerGuardError(code, { cause: new Error(`DPoP proof: ${reason}`) });
}

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', `the ${what} is not base64url JSON`);
  }
  if (!isPlainObject(value)) refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', `the ${what} is not a JSON object`);
  return value;
}

/** RFC 7638 thumbprint of a public JWK, from the members as the client sent them. */
export function jwkThumbprint(jwk: Readonly<Record<string, unknown>>): string | undefined {
  const kty = jwk['kty'];
  const members = typeof kty === 'string' ? THUMBPRINT_MEMBERS[kty] : undefined;
  if (members === undefined) return undefined;
  const canonical: Record<string, string> = {};
  for (const member of members) {
    const value = jwk[member];
    if (typeof value !== 'string') return undefined;
    canonical[member] = value;
  }
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}

/** jose's `EmbeddedJWK` rules: a public asymmetric key, no private member, fit for `alg`. */
function proofKey(jwk: unknown, alg: string): KeyObject {
  if (!isPlainObject(jwk)) refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'the header jwk is not a JSON object');
  if (PRIVATE_MEMBERS.some((member) => Object.hasOwn(jwk, member))) {
    refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'the header jwk has a private member');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'the header jwk is not a usable public key');
  }
  if (key.type !== 'public') refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'the header jwk is not a public key');
  const mismatch = keyMismatch(alg, key);
  if (mismatch !== undefined) refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', mismatch);
  return key;
}

/** What a proof header yields once checked: its algorithm, the imported key and its thumbprint. */
interface ProofHeader {
  readonly alg: string;
  readonly key: KeyObject;
  readonly jkt: string;
}

// A client sends the same header (`typ`, `alg`, `jwk`) with every proof: importing its key once
// saves a JWK import per request. Keyed by the exact base64url segment, so a hit is the very same
// header; what depends on the guard (its `algorithms`) is checked on every request. Bounded.
const HEADER_CACHE_MAX = 1000;
const headerCache = new Map<string, ProofHeader>();

/** RFC 9449 §4.3 steps 4, 5 (the registered asymmetric algorithms) and 7, on the header segment. */
function readHeader(head: string): ProofHeader {
  const cached = headerCache.get(head);
  if (cached !== undefined) return cached;
  const { typ, alg, jwk, crit } = decodeSegment(head, 'header');
  if (typ !== 'dpop+jwt') refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', `typ ${JSON.stringify(typ)}`);
  if (typeof alg !== 'string' || !(DPOP_ALGORITHMS as readonly string[]).includes(alg)) {
    refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', `alg ${JSON.stringify(alg)} is not accepted`);
  }
  // RFC 7515 §4.1.11: an extension we do not understand must not be ignored.
  if (crit !== undefined) refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'crit header parameter');
  const key = proofKey(jwk, alg);
  const jkt = jwkThumbprint(jwk as Record<string, unknown>);
  if (jkt === undefined) refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'the header jwk has no RFC 7638 members');
  if (headerCache.size >= HEADER_CACHE_MAX) {
    const oldest = headerCache.keys().next().value;
    if (oldest !== undefined) headerCache.delete(oldest);
  }
  const checked = { alg, key, jkt };
  headerCache.set(head, checked);
  return checked;
}

/**
 * Check a DPoP proof (the `DPoP` header value, or every value when the header was repeated) as
 * RFC 9449 §4.3 lists, in its order: one header; one well-formed JWS; `typ` `dpop+jwt`; an allowed
 * asymmetric `alg`; the signature, verified with the header `jwk`, which must be a public key; the
 * claims `jti` (at most {@link MAX_JTI_LENGTH} characters), `htm`, `htu`, `iat`; `htm` equal to the
 * method; `htu` equal to the request URL after RFC 3986 normalisation; `iat` within the window;
 * `exp` and `nbf`, when present, numbers that hold (RFC 7519 §4.1.4, §4.1.5, with `clockTolerance`); and
 * `ath` equal to BASE64URL(SHA-256(access token)).
 *
 * Does NOT check the nonce, the token's binding (`cnf.jkt`) or replay: the caller does, in that
 * order, and records the proof only once every check passed.
 *
 * @see RFC 9449 §4.3, §7.1
 */
export function checkDpopProof(
  header: string | string[] | undefined,
  context: DpopProofContext,
): CheckedDpopProof {
  const proof = readProof(header, context);
  if (!verifySignature(proof.alg, proof.key, proof.signingInput, proof.signature)) badSignature();
  return checkClaims(proof, context);
}

/**
 * {@link checkDpopProof} with the signature math on libuv's thread pool (the guard's way: the event
 * loop serves other requests meanwhile, see verifySignatureInPool). Same checks, same order.
 */
export function checkDpopProofInPool(
  header: string | string[] | undefined,
  context: DpopProofContext,
): CheckedDpopProof | Promise<CheckedDpopProof> {
  const proof = readProof(header, context);
  const holds = verifySignatureInPool(proof.alg, proof.key, proof.signingInput, proof.signature);
  const verified = (valid: boolean) => {
    if (!valid) badSignature();
    return checkClaims(proof, context);
  };
  return typeof holds === 'boolean' ? verified(holds) : holds.then(verified);
}

function badSignature(): never {
  refuse('ERR_BEARER_DPOP_PROOF_SIGNATURE_INVALID', 'the signature does not verify with the header jwk');
}

/** A proof read up to its signature check: RFC 9449 §4.3 steps 1 to 5. */
interface ReadProof extends ProofHeader {
  readonly claims: Record<string, unknown>;
  readonly signingInput: Buffer;
  readonly signature: Buffer;
}

function readProof(header: string | string[] | undefined, context: DpopProofContext): ReadProof {
  if (header === undefined) refuse('ERR_BEARER_DPOP_PROOF_MISSING', 'no DPoP header');
  if (typeof header !== 'string') refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'more than one DPoP header');
  const parts = header.split('.');
  const [head = '', body = '', signature = ''] = parts;
  if (parts.length !== 3 || !SEGMENT.test(head) || !SEGMENT.test(body) || !SEGMENT.test(signature)) {
    refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'not one compact JWS');
  }
  const { alg, key, jkt } = readHeader(head);
  if (!context.algorithms.includes(alg)) {
    refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', `alg ${JSON.stringify(alg)} is not accepted`);
  }
  return {
    alg,
    key,
    jkt,
    claims: decodeSegment(body, 'payload'),
    signingInput: Buffer.from(`${head}.${body}`, 'ascii'),
    signature: Buffer.from(signature, 'base64url'),
  };
}

/** RFC 9449 §4.3 steps 6 to 12, once the signature holds. */
function checkClaims(proof: ReadProof, context: DpopProofContext): CheckedDpopProof {
  const { claims, jkt } = proof;
  const { jti, htm, htu, iat, ath } = claims;
  if (typeof jti !== 'string' || jti === '') refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'no jti');
  if (jti.length > MAX_JTI_LENGTH) refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'jti is too long');
  if (typeof htm !== 'string') refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'no htm');
  if (typeof htu !== 'string') refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'no htu');
  if (typeof iat !== 'number' || !Number.isFinite(iat))
    refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', 'no numeric iat');
  if (htm !== context.method) refuse('ERR_BEARER_DPOP_PROOF_MISMATCH', 'htm is not the request method');
  // A client usually sends the URL already normal, as the request's was made: normalisation is
  // idempotent, so an htu spelled exactly so needs none (one URL parse fewer per request).
  const normalized = htu === context.url ? htu : context.normalizeUrl(htu);
  if (context.url === undefined || normalized !== context.url) {
    refuse('ERR_BEARER_DPOP_PROOF_MISMATCH', 'htu is not the request URL');
  }
  if (Math.abs(context.nowSeconds - iat) > context.iatWindow) {
    refuse('ERR_BEARER_DPOP_PROOF_STALE', 'iat is outside the acceptance window');
  }
  // RFC 9449 defines neither, but a proof is a JWT: one that says it expired or is not valid yet is
  // not valid (RFC 7519 §4.1.4, §4.1.5), whatever its iat (jose's jwtVerify, which node-oidc-provider
  // checks its proofs with, refuses it too). A client may send exp to shorten its proofs' lives.
  const { exp, nbf } = claims;
  for (const [name, value] of [
    ['exp', exp],
    ['nbf', nbf],
  ] as const) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
      refuse('ERR_BEARER_DPOP_PROOF_MALFORMED', `${name} is not a number`);
    }
  }
  if (typeof exp === 'number' && context.nowSeconds >= exp + context.clockTolerance) {
    refuse('ERR_BEARER_DPOP_PROOF_STALE', 'exp is past');
  }
  if (typeof nbf === 'number' && context.nowSeconds < nbf - context.clockTolerance) {
    refuse('ERR_BEARER_DPOP_PROOF_STALE', 'nbf is in the future');
  }
  const expectedAth = createHash('sha256').update(context.accessToken).digest('base64url');
  if (ath !== expectedAth)
    refuse('ERR_BEARER_DPOP_PROOF_MISMATCH', 'ath is not the hash of the access token');
  return { jkt, jti, htu: normalized, iat, nonce: claims['nonce'] };
}
