import {
  conflict,
  ISSUER_KEYS,
  resolveIssuer,
  type IssuerOptions,
  type ResolvedIssuer,
} from './issuer-options.js';
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

import { requireUrlSource, resolvePublicUrl } from './request-url.js';
import { resolveTrustProxy, type TrustProxy } from './trusted-proxy.js';
import {
  resolveDpop,
  resolveMtls,
  type DpopOptions,
  type MtlsOptions,
  type ResolvedDpop,
  type ResolvedMtls,
} from './sender-constraint-options.js';

export { DEFAULT_ALGORITHMS, SUPPORTED_ALGORITHMS } from './issuer-options.js';
export type { IssuerOptions, JwsAlgorithm, KeySource, ResolvedIssuer } from './issuer-options.js';

/**
 * Options of {@link createGuard} and `authenticate()`: one issuer configured at the top level
 * ({@link SingleIssuerOptions}: `issuer` and `audience` are required), or several in `issuers`
 * ({@link MultiIssuerOptions}). Durations of token claims are in seconds; of our own machinery in ms.
 *
 * The types require what the run-time validation requires, so a missing `issuer` or `audience` is
 * a compile error in TypeScript and a `ConfigurationError` (`ERR_BEARER_CONFIG_MISSING_OPTION`)
 * in JavaScript.
 */
export type GuardOptions = SingleIssuerOptions | MultiIssuerOptions;

/** One trusted issuer, configured at the top level. */
export interface SingleIssuerOptions extends IssuerOptions, GuardSettings {
  /** The issuer identifier; a token's `iss` must equal it exactly (RFC 9068 §4). Required. */
  issuer: string;
  /** Identifier(s) of this resource server; a token's `aud` must contain one (RFC 9068 §4). Required. */
  audience: string | readonly string[];
  /** Not with a top-level `issuer`: use {@link MultiIssuerOptions} for several issuers. */
  issuers?: undefined;
}

/** Several trusted issuers, each with its own settings; the top-level issuer fields must be absent. */
export interface MultiIssuerOptions extends GuardSettings, NoTopLevelIssuer {
  /** The trusted issuers. A token's unverified `iss` only selects among them. */
  issuers: readonly IssuerOptions[];
  /** Identifier(s) of this resource server, for every entry of `issuers` without its own `audience`. */
  audience?: string | readonly string[] | undefined;
}

/** The issuer fields that belong inside each entry of `issuers` when there are several. */
type NoTopLevelIssuer = Partial<Record<Exclude<keyof IssuerOptions, 'audience'>, undefined>>;

/** The settings shared by both shapes of {@link GuardOptions}. */
export interface GuardSettings {
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
  /**
   * Verified-token cache: `false` turns it off. Defaults to `{ max: 10_000, admission: 'second-use' }`:
   * a token is cached the second time it is verified, so tokens seen once (a flood of fresh tokens,
   * a scan) cost no cache churn and never evict the tokens callers reuse; `'first-use'` caches every
   * verified token at once.
   */
  tokenCache?:
    false | { max?: number | undefined; admission?: 'first-use' | 'second-use' | undefined } | undefined;
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
  /**
   * The external URL of the path this app calls `/` (behind a proxy that strips `/api`:
   * `https://host.example/api`): a DPoP proof's `htu` must be `publicUrl` + the request path. Also
   * the default `resource` of the RFC 9728 document. Never taken from `Host`.
   */
  publicUrl?: string | undefined;
  /**
   * Peers whose forwarded headers count: a list of IP addresses, or a function of the peer address.
   * Their `X-Forwarded-Proto`/`-Host` give the request URL when `publicUrl` is not set, and their
   * client-certificate header (`mtls.certificate.header`) is believed. Nobody's by default.
   */
  trustProxy?: TrustProxy | undefined;
  /** Accept DPoP-bound tokens (RFC 9449) and check their proofs; see {@link DpopOptions}. Off by default. */
  dpop?: boolean | DpopOptions | undefined;
  /** Accept certificate-bound tokens (RFC 8705 §3); see {@link MtlsOptions}. Off by default. */
  mtls?: MtlsOptions | undefined;
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
  tokenCacheAdmission: 'first-use' | 'second-use';
  jwksCache: { cacheMaxAge: number; cooldown: number; staleMaxAge: number };
  timeout: number;
  maxResponseBytes: number;
  allowInsecureHttp: boolean;
  publicUrl: string | undefined;
  trustProxy: ((address: string) => boolean) | undefined;
  dpop: ResolvedDpop | undefined;
  mtls: ResolvedMtls | undefined;
}

const GUARD_KEYS: KeysEnum<GuardOptions> = {
  ...ISSUER_KEYS, issuers: true, clockTolerance: true, maxTokenAge: true, profile: true, scopeClaims: true,
  tokenLocations: true, credentialsRequired: true, realm: true, resourceMetadata: true, tokenCache: true,
  jwksCache: true, timeout: true, maxResponseBytes: true, allowInsecureHttp: true, publicUrl: true,
  trustProxy: true, dpop: true, mtls: true,
}; // prettier-ignore

const DAY_MS = 86_400_000;
/** HTAB, SP and VCHAR (RFC 5234 B.1): what a quoted-string carries unaltered, escaped or not. */
const PRINTABLE_ASCII = /^[\t\x20-\x7e]*$/;

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
    throw invalid('tokenCache', tokenCache, '`false` or { max, admission }');
  }
  const cacheObject = tokenCache === false ? { max: 0 } : (objectOption('tokenCache', tokenCache) ?? {});
  rejectUnknownKeys('tokenCache', cacheObject, { max: true, admission: true });
  const admission = cacheObject['admission'] === undefined ? 'second-use' : cacheObject['admission'];
  if (admission !== 'first-use' && admission !== 'second-use')
    throw invalid('tokenCache.admission', admission, "'second-use' (the default) or 'first-use'");
  const jwksCache = objectOption('jwksCache', raw['jwksCache']) ?? {};
  rejectUnknownKeys('jwksCache', jwksCache, { cacheMaxAge: true, cooldown: true, staleMaxAge: true });
  const realm = raw['realm'] ?? 'api';
  // The realm goes into every challenge as an RFC 9110 §5.6.4 quoted-string. A control character
  // or a non-ASCII one would be dropped or turned into '?' there, so a realm the header cannot
  // carry as given is refused now rather than sent altered (`"` and `\` are escaped, so they may).
  if (typeof realm !== 'string' || !PRINTABLE_ASCII.test(realm)) {
    throw invalid('realm', realm, 'a string of printable ASCII characters and spaces (RFC 9110 §5.6.4)');
  }
  const publicUrl = resolvePublicUrl(raw['publicUrl'], allowInsecureHttp);
  const dpop = resolveDpop(raw['dpop']);
  if (dpop !== undefined) requireUrlSource(publicUrl, raw['trustProxy'], 'dpop');
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
    tokenCacheAdmission: admission,
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
    publicUrl,
    trustProxy: resolveTrustProxy(raw['trustProxy']),
    dpop,
    mtls: resolveMtls(raw['mtls'], raw['trustProxy']),
  };
}
