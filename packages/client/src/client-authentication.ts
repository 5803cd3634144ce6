import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { types } from 'node:util';
import { importPKCS8, type CryptoKey as WebCryptoKey, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { configError, invalid, isPlainObject, nonEmptyString, oneOf } from './internal/validate.js';

/** How the client authenticates at the token endpoint (RFC 7591 §2 names). */
export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** JWS algorithms for the `private_key_jwt` assertion. */
export type ClientAssertionAlgorithm =
  'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'Ed25519' | 'EdDSA'; // prettier-ignore

/** A private key: a PKCS#8 PEM, a private JWK, a `KeyObject` or a `CryptoKey` (with `sign` usage). */
export type PrivateKeyInput = string | JWK | KeyObject | WebCryptoKey;

export const AUTH_METHODS: readonly TokenEndpointAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
];
const RSA_ALGORITHMS: readonly ClientAssertionAlgorithm[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
];
const ALGORITHMS: readonly ClientAssertionAlgorithm[] = [
  ...RSA_ALGORITHMS,
  'ES256',
  'ES384',
  'ES512',
  'Ed25519',
  'EdDSA',
];
const CURVES: Record<string, ClientAssertionAlgorithm> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};
const SIGNING_KEY_ALGORITHMS = new Set(['ECDSA', 'RSASSA-PKCS1-v1_5', 'RSA-PSS', 'Ed25519']);

export interface ClientAuthenticationInput {
  clientSecret: unknown;
  privateKey: unknown;
  privateKeyAlgorithm: unknown;
  privateKeyId: unknown;
  authMethod: unknown;
  clientAssertionAudience: 'token_endpoint' | 'issuer';
}

export interface ResolvedClientAuthentication {
  method: TokenEndpointAuthMethod;
  /**
   * Applies the method to one token request. The secret or key lives only in this closure, so
   * neither the client object nor anything it emits can reveal it.
   */
  apply: oauth.ClientAuth;
}

const conflict = (message: string) => configError('ERR_TOKEN_CLIENT_CONFIG_CONFLICTING_OPTIONS', message);

/** Parse the key synchronously so a bad key fails at construction, not on the first token request. */
function toKeyObject(value: unknown): KeyObject {
  if (types.isKeyObject(value)) {
    if (value.type !== 'private') throw invalid('privateKey', value, 'a private KeyObject', { secret: true });
    return value;
  }
  if (isPlainObject(value) && typeof value['kty'] === 'string') {
    if (typeof value['d'] !== 'string') {
      throw configError(
        'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
        '`privateKey` is a public JWK; pass the private JWK (with `d`) and register its public part at the authorization server.',
      );
    }
    try {
      return createPrivateKey({ key: value as JsonWebKey, format: 'jwk' });
    } catch {
      throw invalid('privateKey', value, 'a valid private JWK', { secret: true });
    }
  }
  if (typeof value === 'string') {
    try {
      return createPrivateKey(value);
    } catch {
      throw invalid('privateKey', value, 'an unencrypted PKCS#8 PEM private key', { secret: true });
    }
  }
  throw invalid('privateKey', value, 'a PKCS#8 PEM, a private JWK, a KeyObject or a CryptoKey', {
    secret: true,
  });
}

/** The assertion's `alg`: fixed by the curve for EC and EdDSA keys, chosen (default RS256/PS256) for RSA. */
function algorithmFor(
  key: KeyObject,
  requested: ClientAssertionAlgorithm | undefined,
): ClientAssertionAlgorithm {
  const type = key.asymmetricKeyType;
  let implied: ClientAssertionAlgorithm | undefined;
  let allowed: readonly ClientAssertionAlgorithm[];
  if (type === 'ec') {
    implied = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (implied === undefined) {
      throw configError(
        'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
        '`privateKey` must use P-256, P-384 or P-521.',
      );
    }
    allowed = [implied];
  } else if (type === 'rsa' || type === 'rsa-pss') {
    allowed = type === 'rsa' ? RSA_ALGORITHMS : RSA_ALGORITHMS.filter((alg) => alg.startsWith('PS'));
    implied = type === 'rsa' ? 'RS256' : 'PS256';
  } else if (type === 'ed25519') {
    allowed = ['Ed25519', 'EdDSA'];
    implied = 'Ed25519';
  } else {
    throw configError(
      'ERR_TOKEN_CLIENT_CONFIG_INVALID_OPTION',
      `\`privateKey\` is a ${String(type)} key; use an EC (P-256/384/521), RSA or Ed25519 key.`,
    );
  }
  if (requested === undefined) return implied;
  if (!allowed.includes(requested)) {
    throw conflict(
      `\`privateKeyAlgorithm\` is ${requested} but \`privateKey\` is a ${type} key that signs ${allowed.join(' or ')}.`,
    );
  }
  return requested;
}

function requestedAlgorithm(input: ClientAuthenticationInput): ClientAssertionAlgorithm | undefined {
  if (input.privateKeyAlgorithm !== undefined) {
    return oneOf('privateKeyAlgorithm', input.privateKeyAlgorithm, ALGORITHMS);
  }
  const { privateKey } = input;
  if (isPlainObject(privateKey) && typeof privateKey['alg'] === 'string') {
    return oneOf('privateKey.alg', privateKey['alg'], ALGORITHMS);
  }
  return undefined;
}

/** A `private_key_jwt` key, imported once as a non-extractable CryptoKey. */
function signingKey(input: ClientAuthenticationInput): () => Promise<oauth.PrivateKey> {
  const { privateKey } = input;
  const kidInput = input.privateKeyId ?? (isPlainObject(privateKey) ? privateKey['kid'] : undefined);
  const kid = kidInput === undefined ? undefined : nonEmptyString('privateKeyId', kidInput);
  if (types.isCryptoKey(privateKey)) {
    if (privateKey.type !== 'private' || !privateKey.usages.includes('sign')) {
      throw invalid('privateKey', privateKey, 'a private CryptoKey with the "sign" usage', { secret: true });
    }
    if (!SIGNING_KEY_ALGORITHMS.has(privateKey.algorithm.name)) {
      throw invalid('privateKey', privateKey, 'an ECDSA, RSASSA-PKCS1-v1_5, RSA-PSS or Ed25519 CryptoKey', {
        secret: true,
      });
    }
    if (input.privateKeyAlgorithm !== undefined) {
      throw conflict(
        'give `privateKeyAlgorithm` only with a PEM, JWK or KeyObject: a CryptoKey fixes its own algorithm.',
      );
    }
    const key = { key: privateKey, kid };
    return () => Promise.resolve(key);
  }
  const keyObject = toKeyObject(privateKey);
  const alg = algorithmFor(keyObject, requestedAlgorithm(input));
  let imported: Promise<oauth.PrivateKey> | undefined;
  return () => {
    imported ??= importPKCS8(keyObject.export({ type: 'pkcs8', format: 'pem' }) as string, alg).then(
      (key) => ({
        key,
        kid,
      }),
    );
    return imported;
  };
}

/**
 * Resolve the client authentication options at construction: exactly one of `clientSecret`
 * (`client_secret_basic` by default, or `client_secret_post`) and `privateKey` (`private_key_jwt`,
 * RFC 7523 §2.2, as SMART Backend Services require). The assertion is built and signed by
 * oauth4webapi; its `aud` is the token endpoint URL by default (RFC 7523 §3 allows it, SMART
 * requires it) or the issuer identifier.
 *
 * @see RFC 6749 §2.3
 * @see RFC 7523 §2.2
 */
export function resolveClientAuthentication(input: ClientAuthenticationInput): ResolvedClientAuthentication {
  const { clientSecret, privateKey } = input;
  if (clientSecret !== undefined && privateKey !== undefined) {
    throw conflict('give `clientSecret` or `privateKey`, not both.');
  }
  const method = oneOf(
    'authMethod',
    input.authMethod ?? (privateKey === undefined ? 'client_secret_basic' : 'private_key_jwt'),
    AUTH_METHODS,
  );
  if (method === 'private_key_jwt') {
    if (privateKey === undefined) {
      throw configError(
        'ERR_TOKEN_CLIENT_CONFIG_MISSING_OPTION',
        '`authMethod` is private_key_jwt, so `privateKey` is required (a PKCS#8 PEM, a private JWK, a KeyObject or a CryptoKey).',
      );
    }
    const key = signingKey(input);
    const audience = input.clientAssertionAudience;
    return {
      method,
      apply: async (as, client, body, headers) => {
        const tokenEndpoint = as.token_endpoint;
        const toTokenEndpoint = (_header: unknown, payload: { aud?: unknown }): void => {
          payload.aud = tokenEndpoint;
        };
        const auth = oauth.PrivateKeyJwt(await key(), {
          // oauth4webapi addresses the assertion to the issuer; SMART Backend Services want the token URL.
          [oauth.modifyAssertion]: audience === 'token_endpoint' ? toTokenEndpoint : undefined,
        });
        await auth(as, client, body, headers);
      },
    };
  }
  if (privateKey !== undefined) {
    throw conflict(
      `\`authMethod\` is ${method}, which uses \`clientSecret\`; remove \`privateKey\` or use private_key_jwt.`,
    );
  }
  if (clientSecret === undefined) {
    throw configError(
      'ERR_TOKEN_CLIENT_CONFIG_MISSING_OPTION',
      '`clientSecret` or `privateKey` is required: the client-credentials grant is for confidential clients (RFC 6749 §4.4).',
    );
  }
  const secret = nonEmptyString('clientSecret', clientSecret, { secret: true });
  const apply =
    method === 'client_secret_basic' ? oauth.ClientSecretBasic(secret) : oauth.ClientSecretPost(secret);
  return { method, apply };
}
