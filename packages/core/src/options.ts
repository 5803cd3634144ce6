import type { JSONWebKeySet, JWK } from 'jose';
import type { KeyObject } from 'node:crypto';
import { ConfigurationError } from './errors.js';
import {
  resolveIntrospection,
  type IntrospectionOptions,
  type ResolvedIntrospection,
} from './introspection-options.js';
import {
  booleanOption,
  invalid,
  numberOption,
  objectOption,
  rejectUnknownKeys,
  stringList,
  urlOption,
  type KeysEnum,
} from './internal/validate.js';

/** JWS algorithms bearer-guard accepts in an allow-list. `none` is never one of them. */
export const SUPPORTED_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
  'HS256', 'HS384', 'HS512',
] as const; // prettier-ignore
export type JwsAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

/** Asymmetric algorithms accepted by default (RFC 8725 §3.1: an explicit allow-list). */
export const DEFAULT_ALGORITHMS: readonly JwsAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

/** One trusted issuer and where its keys come from. Give exactly one key source, or none for discovery. */
export interface IssuerOptions {
  /** The issuer identifier; a token's `iss` must equal it exactly (RFC 9068 §4). */
  issuer: string;
  /** Audiences accepted from this issuer. Defaults to the top-level `audience`. */
  audience?: string | readonly string[] | undefined;
  /** The JWK Set URL. Without it (and without a local key) it is found by discovery (RFC 8414). */
  jwksUri?: string | undefined;
  /** A local JWK Set (no fetching). */
  jwks?: JSONWebKeySet | undefined;
  /** A local public key: SPKI PEM, a public JWK, or a `KeyObject`. */
  publicKey?: string | JWK | KeyObject | undefined;
  /** A shared secret for HS256/384/512. Never combined with asymmetric keys. */
  secret?: string | Uint8Array | undefined;
  /** The accepted `alg` values. Defaults to RS256, PS256, ES256, EdDSA; or HS256 with `secret`. */
  algorithms?: readonly JwsAlgorithm[] | undefined;
  /**
   * Validate opaque tokens by RFC 7662 introspection. Alone, every token is introspected; beside a
   * key source (`jwksUri`, `jwks`, `publicKey`, `secret`), JWTs from this issuer are validated
   * locally and everything else is introspected.
   */
  introspection?: IntrospectionOptions | undefined;
}

/** Options of {@link createGuard}. Durations of token claims are in seconds; of our own machinery in ms. */
export interface GuardOptions extends Partial<IssuerOptions> {
  /** Several trusted issuers, each with its own settings. Exclusive with the top-level issuer fields. */
  issuers?: readonly IssuerOptions[] | undefined;
  /** Identifier(s) of this resource server; a token's `aud` must contain one (RFC 9068 §4). Required. */
  audience?: string | readonly string[] | undefined;
  /** Leeway for `exp`, `nbf` and `iat`, in seconds. Defaults to `5`. */
  clockTolerance?: number | undefined;
  /** Refuse tokens whose `iat` is older than this many seconds. Off by default. */
  maxTokenAge?: number | undefined;
  /** `'rfc9068'` requires `typ: at+jwt` and the RFC 9068 §2.2 claims. Defaults to `'default'`. */
  profile?: 'default' | 'rfc9068' | undefined;
  /** Claims scopes are read from (space-delimited strings or string arrays). Defaults to `['scope', 'scp']`; add `'permissions'` for Auth0-style permissions. */
  scopeClaims?: readonly string[] | undefined;
  /** Accept the token in the query (RFC 6750 §2.3) or form body (§2.2). Both default to `false`. */
  tokenLocations?: { query?: boolean | undefined; body?: boolean | undefined } | undefined;
  /** When `false`, requests without a token pass anonymously; a bad token is still refused. Defaults to `true`. */
  credentialsRequired?: boolean | undefined;
  /** The challenge's `realm`. Defaults to `'api'`. */
  realm?: string | undefined;
  /** RFC 9728 protected-resource metadata URL, advertised in challenges as `resource_metadata`. */
  resourceMetadata?: string | undefined;
  /** Verified-token cache: `false` turns it off. Defaults to `{ max: 10_000 }` entries. */
  tokenCache?: false | { max?: number | undefined } | undefined;
  /** Remote JWK Set caching (ms): `cacheMaxAge` 600 000, `cooldown` 30 000, `staleMaxAge` 3 600 000. */
  jwksCache?:
    | { cacheMaxAge?: number | undefined; cooldown?: number | undefined; staleMaxAge?: number | undefined }
    | undefined;
  /** Deadline of each outbound call (discovery, JWKS), in ms. Defaults to `5000`. */
  timeout?: number | undefined;
  /** Largest accepted metadata or JWKS document, in bytes. Defaults to `512 KiB`. */
  maxResponseBytes?: number | undefined;
  /** Allow plain `http:` URLs beyond loopback. Defaults to `false`. */
  allowInsecureHttp?: boolean | undefined;
}

export type KeySource =
  | { kind: 'jwksUri'; jwksUri: string }
  | { kind: 'discovery' }
  | { kind: 'jwks'; jwks: JSONWebKeySet }
  | { kind: 'publicKey'; publicKey: string | JWK | KeyObject }
  | { kind: 'secret'; secret: Uint8Array };

export interface ResolvedIssuer {
  issuer: string;
  audiences: readonly string[];
  algorithms: readonly JwsAlgorithm[];
  /** Where JWT keys come from; `undefined` when this issuer's tokens are only introspected. */
  keySource: KeySource | undefined;
  introspection: ResolvedIntrospection | undefined;
}

export interface ResolvedOptions {
  issuers: readonly ResolvedIssuer[];
  clockTolerance: number;
  maxTokenAge: number | undefined;
  profile: 'default' | 'rfc9068';
  scopeClaims: readonly string[];
  tokenLocations: { query: boolean; body: boolean };
  credentialsRequired: boolean;
  realm: string;
  resourceMetadata: string | undefined;
  tokenCacheMax: number;
  jwksCache: { cacheMaxAge: number; cooldown: number; staleMaxAge: number };
  timeout: number;
  maxResponseBytes: number;
  allowInsecureHttp: boolean;
}

const ISSUER_KEYS: KeysEnum<IssuerOptions> = {
  issuer: true, audience: true, jwksUri: true, jwks: true, publicKey: true, secret: true, algorithms: true,
  introspection: true,
}; // prettier-ignore
const GUARD_KEYS: KeysEnum<GuardOptions> = {
  ...ISSUER_KEYS, issuers: true, clockTolerance: true, maxTokenAge: true, profile: true, scopeClaims: true,
  tokenLocations: true, credentialsRequired: true, realm: true, resourceMetadata: true, tokenCache: true,
  jwksCache: true, timeout: true, maxResponseBytes: true, allowInsecureHttp: true,
}; // prettier-ignore

const DAY_MS = 86_400_000;

function conflict(message: string): ConfigurationError {
  return new ConfigurationError('ERR_BEARER_CONFIG_CONFLICTING_OPTIONS', `bearer-guard: ${message}`);
}

function resolveAlgorithms(path: string, value: unknown, symmetric: boolean): JwsAlgorithm[] {
  if (value === undefined) return symmetric ? ['HS256'] : [...DEFAULT_ALGORITHMS];
  const list = stringList(path, value);
  for (const alg of list) {
    if (!(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg)) {
      throw invalid(path, alg, `one of ${SUPPORTED_ALGORITHMS.join(', ')} ("none" is never accepted)`);
    }
    // RFC 8725 §3.1/§2.1: HMAC and public-key algorithms must not share one allow-list, or an
    // attacker signs HS256 with the public key as the secret.
    if (alg.startsWith('HS') !== symmetric) {
      throw conflict(
        symmetric
          ? `\`${path}\` lists ${alg}, but a shared \`secret\` only verifies HS256/HS384/HS512.`
          : `\`${path}\` lists ${alg}, which needs a shared \`secret\`; HS algorithms are never mixed with public keys.`,
      );
    }
  }
  return list as JwsAlgorithm[];
}

function resolveKeySource(path: string, raw: Record<string, unknown>, allowHttp: boolean): KeySource {
  const given = (['jwksUri', 'jwks', 'publicKey', 'secret'] as const).filter((key) => raw[key] !== undefined);
  if (given.length > 1) {
    throw conflict(
      `${path}: give only one of \`jwksUri\`, \`jwks\`, \`publicKey\` or \`secret\`; got ${given.join(' and ')}.`,
    );
  }
  const { jwksUri, jwks, publicKey, secret } = raw;
  if (jwksUri !== undefined)
    return { kind: 'jwksUri', jwksUri: urlOption(`${path}jwksUri`, jwksUri, allowHttp) };
  if (jwks !== undefined) {
    if (
      objectOption(`${path}jwks`, jwks)?.['keys'] === undefined ||
      !Array.isArray((jwks as JSONWebKeySet).keys)
    ) {
      throw invalid(`${path}jwks`, jwks, 'a JWK Set: { keys: [...] }');
    }
    return { kind: 'jwks', jwks: jwks as JSONWebKeySet };
  }
  if (publicKey !== undefined) {
    if (typeof publicKey === 'string' && !publicKey.includes('-----BEGIN PUBLIC KEY-----')) {
      throw invalid(
        `${path}publicKey`,
        '(a string)',
        'an SPKI PEM ("-----BEGIN PUBLIC KEY-----"), a public JWK or a KeyObject',
      );
    }
    if (typeof publicKey !== 'string' && typeof publicKey !== 'object') {
      throw invalid(`${path}publicKey`, publicKey, 'an SPKI PEM, a public JWK or a KeyObject');
    }
    return { kind: 'publicKey', publicKey: publicKey as string | JWK | KeyObject };
  }
  if (secret !== undefined) {
    const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
    if (!(bytes instanceof Uint8Array))
      throw invalid(`${path}secret`, '(hidden)', 'a string or a Uint8Array');
    // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (32 bytes).
    if (bytes.byteLength < 32)
      throw invalid(`${path}secret`, '(hidden)', 'at least 32 bytes long (RFC 7518 §3.2)');
    return { kind: 'secret', secret: bytes };
  }
  return { kind: 'discovery' };
}

function resolveIssuer(
  path: string,
  raw: Record<string, unknown>,
  fallbackAudience: readonly string[] | undefined,
  allowHttp: boolean,
): ResolvedIssuer {
  if (raw['issuer'] === undefined) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      `bearer-guard: option \`${path}issuer\` is required: the issuer identifier your tokens carry in \`iss\`, e.g. "https://as.example.com".`,
    );
  }
  const issuer = urlOption(`${path}issuer`, raw['issuer'], allowHttp, { allowQuery: false });
  const introspection =
    raw['introspection'] === undefined
      ? undefined
      : resolveIntrospection(`${path}introspection`, raw['introspection'], allowHttp);
  let keySource: KeySource | undefined = resolveKeySource(path, raw, allowHttp);
  // Introspection alone means "introspect everything"; local JWT validation needs an explicit key source then.
  if (keySource.kind === 'discovery' && introspection !== undefined) keySource = undefined;
  const audiences =
    raw['audience'] === undefined ? fallbackAudience : stringList(`${path}audience`, raw['audience']);
  if (audiences === undefined) {
    throw new ConfigurationError(
      'ERR_BEARER_CONFIG_MISSING_OPTION',
      'bearer-guard: option `audience` is required: the identifier of this API that tokens carry in `aud` (RFC 9068 §4), e.g. "https://orders.example.com".',
    );
  }
  const algorithms = resolveAlgorithms(`${path}algorithms`, raw['algorithms'], keySource?.kind === 'secret');
  return { issuer, audiences, algorithms, keySource, introspection };
}

/** Validate options at construction and fill in defaults. Throws {@link ConfigurationError}. */
export function resolveOptions(input: unknown): ResolvedOptions {
  const raw = objectOption('options', input);
  if (raw === undefined) throw invalid('options', input, 'an object');
  rejectUnknownKeys('', raw, GUARD_KEYS);
  const allowInsecureHttp = booleanOption('allowInsecureHttp', raw['allowInsecureHttp'], false);
  const audience = raw['audience'] === undefined ? undefined : stringList('audience', raw['audience']);
  let issuers: ResolvedIssuer[];
  if (raw['issuers'] !== undefined) {
    const topLevel = Object.keys(ISSUER_KEYS).filter((key) => key !== 'audience' && raw[key] !== undefined);
    if (topLevel.length > 0) {
      throw conflict(
        `\`issuers\` lists the trusted issuers, so \`${topLevel.join('`, `')}\` belongs inside each entry of it.`,
      );
    }
    if (!Array.isArray(raw['issuers']) || raw['issuers'].length === 0)
      throw invalid('issuers', raw['issuers'], 'a non-empty array');
    issuers = (raw['issuers'] as unknown[]).map((entry, index) => {
      const path = `issuers[${String(index)}]`;
      const object = objectOption(path, entry) ?? {};
      rejectUnknownKeys(path, object, ISSUER_KEYS);
      return resolveIssuer(`${path}.`, object, audience, allowInsecureHttp);
    });
    if (issuers.filter((entry) => entry.introspection !== undefined).length > 1) {
      throw conflict(
        'only one entry of `issuers` may have `introspection`: an opaque token does not say which server issued it.',
      );
    }
    const seen = new Set<string>();
    for (const { issuer } of issuers) {
      if (seen.has(issuer)) throw conflict(`issuer ${issuer} is listed twice in \`issuers\`.`);
      seen.add(issuer);
    }
  } else {
    issuers = [resolveIssuer('', raw, audience, allowInsecureHttp)];
  }
  const profile = raw['profile'] ?? 'default';
  if (profile !== 'default' && profile !== 'rfc9068')
    throw invalid('profile', profile, '"default" or "rfc9068"');
  const locations = objectOption('tokenLocations', raw['tokenLocations']) ?? {};
  rejectUnknownKeys('tokenLocations', locations, { query: true, body: true });
  const tokenCache = raw['tokenCache'];
  if (
    tokenCache !== undefined &&
    tokenCache !== false &&
    objectOption('tokenCache', tokenCache) === undefined
  ) {
    throw invalid('tokenCache', tokenCache, '`false` or { max }');
  }
  const cacheObject = tokenCache === false ? { max: 0 } : (objectOption('tokenCache', tokenCache) ?? {});
  rejectUnknownKeys('tokenCache', cacheObject, { max: true });
  const jwksCache = objectOption('jwksCache', raw['jwksCache']) ?? {};
  rejectUnknownKeys('jwksCache', jwksCache, { cacheMaxAge: true, cooldown: true, staleMaxAge: true });
  const realm = raw['realm'] ?? 'api';
  if (typeof realm !== 'string') throw invalid('realm', realm, 'a string');
  return {
    issuers,
    clockTolerance: numberOption('clockTolerance', raw['clockTolerance'], 5, { max: 300, unit: 'seconds' }),
    maxTokenAge:
      raw['maxTokenAge'] === undefined
        ? undefined
        : numberOption('maxTokenAge', raw['maxTokenAge'], 0, { min: 1, unit: 'seconds' }),
    profile,
    scopeClaims:
      raw['scopeClaims'] === undefined ? ['scope', 'scp'] : stringList('scopeClaims', raw['scopeClaims']),
    tokenLocations: {
      query: booleanOption('tokenLocations.query', locations['query'], false),
      body: booleanOption('tokenLocations.body', locations['body'], false),
    },
    credentialsRequired: booleanOption('credentialsRequired', raw['credentialsRequired'], true),
    realm,
    resourceMetadata:
      raw['resourceMetadata'] === undefined
        ? undefined
        : urlOption('resourceMetadata', raw['resourceMetadata'], allowInsecureHttp),
    tokenCacheMax:
      tokenCache === false
        ? 0
        : numberOption('tokenCache.max', cacheObject['max'], 10_000, { min: 1, max: 10_000_000 }),
    jwksCache: {
      cacheMaxAge: numberOption('jwksCache.cacheMaxAge', jwksCache['cacheMaxAge'], 600_000, {
        min: 1000,
        max: 7 * DAY_MS,
        unit: 'ms',
      }),
      cooldown: numberOption('jwksCache.cooldown', jwksCache['cooldown'], 30_000, {
        max: DAY_MS,
        unit: 'ms',
      }),
      staleMaxAge: numberOption('jwksCache.staleMaxAge', jwksCache['staleMaxAge'], 3_600_000, {
        max: 7 * DAY_MS,
        unit: 'ms',
      }),
    },
    timeout: numberOption('timeout', raw['timeout'], 5000, { min: 1, max: 120_000, unit: 'ms' }),
    maxResponseBytes: numberOption('maxResponseBytes', raw['maxResponseBytes'], 512 * 1024, {
      min: 1024,
      max: 64 * 1024 * 1024,
      unit: 'bytes',
    }),
    allowInsecureHttp,
  };
}
