import type { CryptoKey as WebCryptoKey, JWK } from 'jose';
import { importJWK, importPKCS8 } from 'jose';
import type { KeyObject } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { ConfigurationError } from './errors.js';
import { MemoryIntrospectionStore, type IntrospectionStore } from './introspection-cache.js';
import {
  booleanOption,
  invalid,
  nonEmptyString,
  numberOption,
  objectOption,
  rejectUnknownKeys,
  urlOption,
  type KeysEnum,
} from './internal/validate.js';

/** How the resource server authenticates itself to the introspection endpoint (RFC 7662 §2.1). */
export type IntrospectionAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** Options of RFC 7662 introspection, under `introspection`. Durations in the cache are seconds. */
export interface IntrospectionOptions {
  /** This resource server's client identifier at the authorization server. Required. */
  clientId: string;
  /** The client secret, for `client_secret_basic` (default) or `client_secret_post`. */
  clientSecret?: string | undefined;
  /** A private key for `private_key_jwt` (RFC 7523): a PKCS#8 PEM, a private JWK or a `CryptoKey`. */
  privateKey?: string | JWK | WebCryptoKey | KeyObject | undefined;
  /** The JWS algorithm for `private_key_jwt` when the key does not name one. Defaults to `'ES256'` (`'RS256'` for RSA JWKs). */
  privateKeyAlgorithm?: string | undefined;
  /** The `kid` to put in the client assertion header. */
  privateKeyId?: string | undefined;
  /** Defaults to `client_secret_basic` with a secret, `private_key_jwt` with a key. */
  authMethod?: IntrospectionAuthMethod | undefined;
  /** The introspection endpoint; found by discovery from `issuer` when absent. */
  endpoint?: string | undefined;
  /** Deadline of each call, in ms. Defaults to `3000`. */
  timeout?: number | undefined;
  /** Largest accepted response, in bytes. Defaults to `64 KiB`. */
  maxResponseBytes?: number | undefined;
  /** Result cache: `false` turns it off. Defaults to `{ maxSeconds: 60, negativeSeconds: 5, max: 10000 }`. */
  cache?:
    | false
    | { maxSeconds?: number | undefined; negativeSeconds?: number | undefined; max?: number | undefined }
    | undefined;
  /**
   * A shared store in place of the in-memory LRU. Keys are `<context>.<SHA-256 of the token>`, the
   * context a digest of the issuer, endpoint and client id (never a token or secret). A store that
   * fails is a miss (`store.failed` event), never a failed request.
   */
  store?: IntrospectionStore | undefined;
  /** Circuit breaker: opens after `failureThreshold` (5) consecutive failures, probes after `cooldown` (10000 ms). */
  breaker?: { failureThreshold?: number | undefined; cooldown?: number | undefined } | undefined;
  /** Accept active responses that carry no `aud`. Defaults to `false`. */
  acceptMissingAudience?: boolean | undefined;
  /** Ask for RFC 9701 JWT responses (`application/token-introspection+jwt`), verified with the issuer's keys. */
  jwtResponse?: boolean | undefined;
  /**
   * Also introspect this issuer's JWTs after local validation, to see revocation at once ("check
   * locally, then ask the server"). Defaults to `false`.
   */
  introspectJwts?: boolean | undefined;
  /**
   * Validate a JWS whose `iss` is this issuer locally, with the configured key source or else the
   * keys at the discovered `jwks_uri`, and introspect only the other tokens. Defaults to `true`
   * (many servers, node-oidc-provider among them, refuse to introspect JWTs). When the discovered
   * metadata has no `jwks_uri`, this issuer's JWTs are introspected. `false` fetches no keys and
   * introspects this issuer's JWTs too (for a server that introspects them and publishes no keys);
   * it cannot be combined with a key source or with `introspectJwts`.
   */
  localJwts?: boolean | undefined;
}

export interface ResolvedIntrospection {
  clientId: string;
  endpoint: string | undefined;
  timeout: number;
  maxResponseBytes: number;
  cache: { maxSeconds: number; negativeSeconds: number };
  store: IntrospectionStore | undefined;
  breaker: { failureThreshold: number; cooldown: number };
  acceptMissingAudience: boolean;
  jwtResponse: boolean;
  introspectJwts: boolean;
  localJwts: boolean;
  clientAuthentication: () => Promise<oauth.ClientAuth>;
  /** How the client authenticates, without its secret: the method, and the key id for `private_key_jwt`. */
  credential: string;
}

const KEYS: KeysEnum<IntrospectionOptions> = {
  clientId: true, clientSecret: true, privateKey: true, privateKeyAlgorithm: true, privateKeyId: true,
  authMethod: true, endpoint: true, timeout: true, maxResponseBytes: true, cache: true, store: true,
  breaker: true, acceptMissingAudience: true, jwtResponse: true, introspectJwts: true,
  localJwts: true,
}; // prettier-ignore

async function importPrivateKey(
  key: NonNullable<IntrospectionOptions['privateKey']>,
  alg: string | undefined,
): Promise<WebCryptoKey> {
  if (typeof key === 'string') return importPKCS8(key, alg ?? 'ES256');
  if ('kty' in key && typeof key.kty === 'string') {
    const jwk = key;
    return (await importJWK(jwk, alg ?? jwk.alg ?? (jwk.kty === 'RSA' ? 'RS256' : 'ES256'))) as WebCryptoKey;
  }
  if ('export' in key && typeof key.export === 'function') {
    return importPKCS8(key.export({ type: 'pkcs8', format: 'pem' }) as string, alg ?? 'ES256');
  }
  return key as WebCryptoKey;
}

type ClientCredential = Pick<ResolvedIntrospection, 'clientAuthentication' | 'credential'>;

function clientAuthentication(path: string, raw: Record<string, unknown>): ClientCredential {
  const secret = raw['clientSecret'];
  const key = raw['privateKey'] as IntrospectionOptions['privateKey'];
  const method = raw['authMethod'] ?? (key === undefined ? 'client_secret_basic' : 'private_key_jwt');
  if (method !== 'client_secret_basic' && method !== 'client_secret_post' && method !== 'private_key_jwt') {
    throw invalid(
      `${path}.authMethod`,
      method,
      '"client_secret_basic", "client_secret_post" or "private_key_jwt"',
    );
  }
  if (secret !== undefined && key !== undefined) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
      `bearer-guard: give \`${path}.clientSecret\` or \`${path}.privateKey\`, not both.`,
    );
  }
  if (method === 'private_key_jwt') {
    if (key === undefined || (typeof key !== 'string' && typeof key !== 'object')) {
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_MISSING_OPTION',
        `bearer-guard: \`${path}.authMethod\` is private_key_jwt, so \`${path}.privateKey\` is required (a PKCS#8 PEM, a private JWK or a CryptoKey).`,
      );
    }
    const alg =
      raw['privateKeyAlgorithm'] === undefined
        ? undefined
        : nonEmptyString(`${path}.privateKeyAlgorithm`, raw['privateKeyAlgorithm']);
    const kid =
      raw['privateKeyId'] === undefined
        ? undefined
        : nonEmptyString(`${path}.privateKeyId`, raw['privateKeyId']);
    return {
      clientAuthentication: async () => oauth.PrivateKeyJwt({ key: await importPrivateKey(key, alg), kid }),
      credential: `private_key_jwt ${kid ?? ''}`,
    };
  }
  if (typeof secret !== 'string' || secret === '') {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      `bearer-guard: \`${path}.clientSecret\` is required for ${method} (the resource server authenticates itself to the introspection endpoint, RFC 7662 §2.1).`,
    );
  }
  const auth =
    method === 'client_secret_basic' ? oauth.ClientSecretBasic(secret) : oauth.ClientSecretPost(secret);
  return { clientAuthentication: () => Promise.resolve(auth), credential: method };
}

/** Validate `introspection` options at construction. */
export function resolveIntrospection(
  path: string,
  input: unknown,
  allowHttp: boolean,
): ResolvedIntrospection {
  const raw = objectOption(path, input) ?? {};
  rejectUnknownKeys(path, raw, KEYS);
  if (raw['clientId'] === undefined) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      `bearer-guard: \`${path}.clientId\` is required: this API's own client identifier at the authorization server.`,
    );
  }
  const cacheInput = raw['cache'];
  if (cacheInput !== undefined && cacheInput !== false) objectOption(`${path}.cache`, cacheInput);
  const cache =
    cacheInput === false || cacheInput === undefined ? {} : (cacheInput as Record<string, unknown>);
  rejectUnknownKeys(`${path}.cache`, cache, { maxSeconds: true, negativeSeconds: true, max: true });
  const breaker = objectOption(`${path}.breaker`, raw['breaker']) ?? {};
  rejectUnknownKeys(`${path}.breaker`, breaker, { failureThreshold: true, cooldown: true });
  const store = raw['store'] as IntrospectionStore | undefined;
  if (
    store !== undefined &&
    (typeof store.get !== 'function' || typeof store.set !== 'function' || typeof store.delete !== 'function')
  ) {
    throw invalid(`${path}.store`, store, 'an object with get(key), set(key, value, ttl) and delete(key)');
  }
  if (store !== undefined && cacheInput === false) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
      `bearer-guard: \`${path}.store\` is given but \`${path}.cache\` is false.`,
    );
  }
  const max = numberOption(`${path}.cache.max`, cache['max'], 10_000, { min: 1, max: 10_000_000 });
  const introspectJwts = booleanOption(`${path}.introspectJwts`, raw['introspectJwts'], false);
  const localJwts = booleanOption(`${path}.localJwts`, raw['localJwts'], true);
  if (introspectJwts && !localJwts) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
      `bearer-guard: \`${path}.introspectJwts\` validates JWTs locally and then introspects them, but \`${path}.localJwts\` is false (no local validation); remove one of them.`,
    );
  }
  return {
    clientId: nonEmptyString(`${path}.clientId`, raw['clientId']),
    endpoint:
      raw['endpoint'] === undefined ? undefined : urlOption(`${path}.endpoint`, raw['endpoint'], allowHttp),
    timeout: numberOption(`${path}.timeout`, raw['timeout'], 3000, { min: 1, max: 120_000, unit: 'ms' }),
    maxResponseBytes: numberOption(`${path}.maxResponseBytes`, raw['maxResponseBytes'], 64 * 1024, {
      min: 1024,
      max: 16 * 1024 * 1024,
      unit: 'bytes',
    }),
    cache: {
      maxSeconds:
        cacheInput === false
          ? 0
          : numberOption(`${path}.cache.maxSeconds`, cache['maxSeconds'], 60, {
              max: 86_400,
              unit: 'seconds',
            }),
      negativeSeconds:
        cacheInput === false
          ? 0
          : numberOption(`${path}.cache.negativeSeconds`, cache['negativeSeconds'], 5, {
              max: 3600,
              unit: 'seconds',
            }),
    },
    store: cacheInput === false ? undefined : (store ?? new MemoryIntrospectionStore(max)),
    breaker: {
      failureThreshold: numberOption(`${path}.breaker.failureThreshold`, breaker['failureThreshold'], 5, {
        min: 1,
        max: 1000,
      }),
      cooldown: numberOption(`${path}.breaker.cooldown`, breaker['cooldown'], 10_000, {
        min: 1,
        max: 3_600_000,
        unit: 'ms',
      }),
    },
    acceptMissingAudience: booleanOption(
      `${path}.acceptMissingAudience`,
      raw['acceptMissingAudience'],
      false,
    ),
    jwtResponse: booleanOption(`${path}.jwtResponse`, raw['jwtResponse'], false),
    introspectJwts,
    localJwts,
    ...clientAuthentication(path, raw),
  };
}
