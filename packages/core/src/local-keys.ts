import { createPublicKey, KeyObject, type JsonWebKeyInput } from 'node:crypto';
import { base64url, createLocalJWKSet } from 'jose';
import type { JWK, JWTVerifyGetKey } from 'jose';
import { ConfigurationError } from './errors.js';
import { SUPPORTED_ALGORITHMS, type JwsAlgorithm, type ResolvedIssuer } from './issuer-options.js';
// RFC 7518 §3.3/§3.5: RSA keys of 2048 bits or more; smaller ones are refused at start-up, not per request.
import { keyMismatch, MIN_RSA_BITS } from './jws-signature.js';

/** A configured key: a key-set lookup (jose's), a public key or a secret. */
export type VerificationKey = JWTVerifyGetKey | KeyObject | Uint8Array;

// RFC 7518 §3.2: an HMAC key at least as long as the hash output.
const MIN_SECRET_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

/** The algorithms a JWK can verify, by `kty` or `kty` and `crv`. Symmetric JWKs never verify from a key set. */
const ALGORITHMS_BY_JWK: Readonly<Record<string, readonly string[]>> = {
  RSA: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  'EC P-256': ['ES256'],
  'EC P-384': ['ES384'],
  'EC P-521': ['ES512'],
  'OKP Ed25519': ['EdDSA', 'Ed25519'],
  'OKP Ed448': ['EdDSA'],
};

const CURVE_NAMES: Readonly<Record<string, string>> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

function keyType(key: KeyObject): string {
  return key.asymmetricKeyType === 'ec'
    ? (key.asymmetricKeyDetails?.namedCurve ?? 'ec')
    : (key.asymmetricKeyType ?? '');
}

/**
 * The algorithms the public `key` can verify: the one algorithm/key binding of jws-signature.ts,
 * which every signature check applies too.
 */
function algorithmsOf(key: KeyObject): JwsAlgorithm[] {
  return SUPPORTED_ALGORITHMS.filter((alg) => keyMismatch(alg, key) === undefined);
}

function describeKey(key: KeyObject): string {
  const type = keyType(key);
  if (type === 'rsa' || type === 'rsa-pss')
    return `an ${type.toUpperCase()} key of ${String(key.asymmetricKeyDetails?.modulusLength)} bits`;
  const curve = CURVE_NAMES[type];
  return curve === undefined ? `an ${type} key` : `an EC ${curve} key`;
}

function invalidKey(option: string, issuer: ResolvedIssuer, problem: string): ConfigurationError {
  return new ConfigurationError(
    'ERR_BEARER_CONFIG_INVALID_OPTION',
    `bearer-guard: option \`${option}\` of issuer ${issuer.issuer} ${problem}.`,
  );
}

function allowed(issuer: ResolvedIssuer): string {
  return `\`algorithms\` (${issuer.algorithms.join(', ')})`;
}

function checkPublicKey(issuer: ResolvedIssuer, key: KeyObject): void {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined && bits < MIN_RSA_BITS) {
    throw invalidKey(
      'publicKey',
      issuer,
      `is ${describeKey(key)}: RSA keys need at least ${String(MIN_RSA_BITS)} bits (RFC 7518 §3.3)`,
    );
  }
  const fitting = algorithmsOf(key);
  if (!issuer.algorithms.some((alg) => fitting.includes(alg))) {
    throw invalidKey(
      'publicKey',
      issuer,
      `is ${describeKey(key)}, which verifies none of the allowed ${allowed(issuer)}: ` +
        (fitting.length === 0
          ? 'give an RSA, EC (P-256/384/521) or Ed25519 key'
          : `list one of ${fitting.join(', ')} in \`algorithms\`, or give the key that signs them`),
    );
  }
}

function checkSecret(issuer: ResolvedIssuer, secret: Uint8Array): void {
  // resolveAlgorithms() allows only HS algorithms beside a secret.
  if (!issuer.algorithms.some((alg) => secret.byteLength >= (MIN_SECRET_BYTES[alg] ?? Infinity))) {
    throw invalidKey(
      'secret',
      issuer,
      `has ${String(secret.byteLength)} bytes, too short for every allowed ${allowed(issuer)}: HS384 needs 48, HS512 64 (RFC 7518 §3.2)`,
    );
  }
}

/** The modulus size of an RSA JWK, in bits (leading zero octets do not count). */
function rsaBits(n: unknown): number {
  if (typeof n !== 'string') return 0;
  const bytes = base64url.decode(n);
  let first = 0;
  while (first < bytes.length && bytes[first] === 0) first++;
  const top = bytes[first];
  return top === undefined ? 0 : (bytes.length - first) * 8 - (Math.clz32(top) - 24);
}

/** Whether jose's key set would select `jwk` for one of `algorithms` (its `use`, `key_ops` and `alg` rules). */
function jwkServes(jwk: JWK, algorithms: readonly JwsAlgorithm[]): boolean {
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify')))
    return false;
  const fitting =
    ALGORITHMS_BY_JWK[jwk.kty === 'RSA' ? 'RSA' : `${String(jwk.kty)} ${String(jwk.crv)}`] ?? [];
  return algorithms.some((alg) => fitting.includes(alg) && (jwk.alg === undefined || jwk.alg === alg));
}

/**
 * Whether `jwk` can be imported as a public key. jose imports a set's keys only when a token selects
 * one, and a malformed JWK (a point off its curve, a bad `x`, a missing member) would then fail
 * every such token with a WebCrypto `DataError`, a private one (`d`) with jose's `JWKSInvalid`.
 */
function importable(jwk: JWK): boolean {
  if (jwk.d !== undefined) return false;
  try {
    return createPublicKey({ key: jwk as JsonWebKeyInput['key'], format: 'jwk' }).type === 'public';
  } catch {
    return false;
  }
}

function checkJwks(issuer: ResolvedIssuer, keys: readonly JWK[]): void {
  keys.forEach((jwk, index) => {
    const which = `keys[${String(index)}]${jwk.kid === undefined ? '' : `, kid ${JSON.stringify(jwk.kid)}`}`;
    const bits = jwk.kty === 'RSA' ? rsaBits(jwk.n) : MIN_RSA_BITS;
    if (bits < MIN_RSA_BITS) {
      throw invalidKey(
        'jwks',
        issuer,
        `holds an RSA key of ${String(bits)} bits (${which}): RSA keys need at least ${String(MIN_RSA_BITS)} bits (RFC 7518 §3.3)`,
      );
    }
    if (jwkServes(jwk, issuer.algorithms) && !importable(jwk)) {
      throw invalidKey(
        'jwks',
        issuer,
        `holds a key that is not a usable public JWK (${which}): a private key, or members that do not make a key of its \`kty\` and \`crv\``,
      );
    }
  });
  if (!keys.some((jwk) => jwkServes(jwk, issuer.algorithms))) {
    const types = [
      ...new Set(
        keys.map((jwk) =>
          jwk.kty === 'EC' || jwk.kty === 'OKP' ? `${jwk.kty} ${String(jwk.crv)}` : String(jwk.kty),
        ),
      ),
    ];
    throw invalidKey(
      'jwks',
      issuer,
      `holds no key that verifies any of the allowed ${allowed(issuer)} (its keys: ${types.length === 0 ? 'none' : types.join(', ')}; a key's \`use\`, \`key_ops\` and \`alg\` count)`,
    );
  }
}

function publicKeyOf(key: string | JWK | KeyObject): KeyObject {
  // A private key given by mistake yields its public half; a malformed one throws at start-up.
  // createPublicKey() only derives from a *private* KeyObject and throws on a public one.
  if (key instanceof KeyObject && key.type === 'public') return key;
  if (typeof key === 'string' || key instanceof KeyObject) return createPublicKey(key);
  return createPublicKey({ key: key as JsonWebKeyInput['key'], format: 'jwk' });
}

function readKey(issuer: ResolvedIssuer): VerificationKey | undefined {
  const source = issuer.keySource;
  try {
    switch (source?.kind) {
      case 'jwks':
        return createLocalJWKSet(source.jwks);
      case 'publicKey':
        return publicKeyOf(source.publicKey);
      case 'secret':
        return source.secret;
      case 'jwksUri':
      case 'discovery':
      case undefined:
        return undefined;
    }
  } catch (cause) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_INVALID_OPTION',
      // Name the option (`publicKey` or `jwks`), as every configuration message does.
      source?.kind === 'jwks'
        ? `bearer-guard: option \`jwks\` of issuer ${issuer.issuer} is not a usable JWK Set: give { keys: [ <public JWKs> ] }.`
        : `bearer-guard: option \`publicKey\` of issuer ${issuer.issuer} cannot be read: give an SPKI PEM, a public JWK or a KeyObject.`,
      { cause },
    );
  }
}

/**
 * The configured local key (`jwks`, `publicKey` or `secret`) as jose's key argument, checked at
 * start-up: a key that can verify none of the allowed algorithms (an RSA key with only ES256, a
 * P-384 key with only ES256, a JWK Set none of whose keys fits) would refuse every token, so it is a
 * {@link ConfigurationError}, as is an RSA key under 2048 bits. `undefined` for remote key sets.
 * Never reads `jwk`/`jku`/`x5u`/`x5c` headers.
 */
export function staticKey(issuer: ResolvedIssuer): VerificationKey | undefined {
  const key = readKey(issuer);
  const source = issuer.keySource;
  if (source?.kind === 'jwks') checkJwks(issuer, source.jwks.keys);
  else if (key instanceof KeyObject) checkPublicKey(issuer, key);
  else if (key instanceof Uint8Array) checkSecret(issuer, key);
  return key;
}
