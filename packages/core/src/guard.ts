import { decodeJwt } from 'jose';
import { extractBearerToken, type ResourceRequest } from './bearer-token.js';
import {
  discoverAuthorizationServer,
  DiscoveryError,
  type AuthorizationServerMetadata,
} from './discovery.js';
import { BearerGuardError, ConfigurationError } from './errors.js';
import { GuardEvents, type GuardEventListener, type GuardEventName } from './events.js';
import { Introspector } from './introspection.js';
import { RemoteKeySet } from './jwks.js';
import { createJwtVerifier, staticKey, type VerifyJwtAccessToken } from './jwt-access-token.js';
import { resolveOptions, type GuardOptions, type ResolvedIssuer, type ResolvedOptions } from './options.js';
import { createPrincipal, type Principal } from './principal.js';
import { matchScopes, readScopes } from './scope.js';
import { tokenDigest, VerifiedTokenCache } from './token-cache.js';

interface TrustedIssuer {
  config: ResolvedIssuer;
  /** Local JWT validation, when the issuer has a key source. */
  verify: VerifyJwtAccessToken | undefined;
  keySet: RemoteKeySet | undefined;
}

const epochSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * A configured resource server: validates bearer tokens and decides per-route authorization.
 * Framework-agnostic; `@bearer-guard/express` wraps it.
 */
export class BearerGuard {
  /** The validated options with defaults filled in. */
  readonly options: ResolvedOptions;
  readonly #events = new GuardEvents();
  /** Issuers whose JWTs are validated locally, by `iss`. */
  readonly #issuers = new Map<string, TrustedIssuer>();
  readonly #single: TrustedIssuer | undefined;
  readonly #introspector: Introspector | undefined;
  readonly #introspectJwts: boolean;
  readonly #cache: VerifiedTokenCache | undefined;
  readonly #metadata = new Map<string, Promise<AuthorizationServerMetadata>>();

  constructor(options: GuardOptions) {
    this.options = resolveOptions(options);
    const { clockTolerance, maxTokenAge, profile } = this.options;
    let introspector: Introspector | undefined;
    for (const config of this.options.issuers) {
      // A key set is needed for local JWTs, and for verifying RFC 9701 JWT introspection responses.
      const keySet = this.#remoteKeySet(config);
      const key = keySet?.getKey ?? this.#staticKey(config);
      const verify =
        key === undefined
          ? undefined
          : createJwtVerifier(config, key, { clockTolerance, maxTokenAge, profile });
      if (verify !== undefined) this.#issuers.set(config.issuer, { config, verify, keySet });
      if (config.introspection !== undefined) {
        introspector = new Introspector(config.introspection, {
          checks: {
            issuer: config.issuer,
            audiences: config.audiences,
            acceptMissingAudience: config.introspection.acceptMissingAudience,
            clockTolerance,
          },
          scopeClaims: this.options.scopeClaims,
          events: this.#events,
          metadata: () => this.#discover(config.issuer),
          keys: key !== undefined && typeof key === 'function' ? key : undefined,
        });
      }
    }
    this.#introspector = introspector;
    this.#introspectJwts =
      introspector !== undefined &&
      this.options.issuers.some((entry) => entry.introspection?.introspectJwts === true);
    this.#single =
      this.#issuers.size === 1 && introspector === undefined
        ? this.#issuers.values().next().value
        : undefined;
    this.#cache =
      this.options.tokenCacheMax > 0
        ? new VerifiedTokenCache(this.options.tokenCacheMax, this.options)
        : undefined;
  }

  #staticKey(config: ResolvedIssuer): ReturnType<typeof staticKey> {
    try {
      return staticKey(config);
    } catch (cause) {
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_INVALID_OPTION',
        // Name the option (`publicKey` or `jwks`), as every configuration message does.
        config.keySource?.kind === 'jwks'
          ? `bearer-guard: option \`jwks\` of issuer ${config.issuer} is not a usable JWK Set: give { keys: [ <public JWKs> ] }.`
          : `bearer-guard: option \`publicKey\` of issuer ${config.issuer} cannot be read: give an SPKI PEM, a public JWK or a KeyObject.`,
        { cause },
      );
    }
  }

  #remoteKeySet(config: ResolvedIssuer): RemoteKeySet | undefined {
    const source =
      config.keySource ?? (config.introspection?.jwtResponse === true ? { kind: 'discovery' } : undefined);
    if (source?.kind !== 'jwksUri' && source?.kind !== 'discovery') return undefined;
    const uri =
      source.kind === 'jwksUri'
        ? () => Promise.resolve(source.jwksUri)
        : async () => {
            const metadata = await this.#discover(config.issuer);
            if (typeof metadata.jwks_uri !== 'string') {
              throw new DiscoveryError('invalid', `the metadata of ${config.issuer} has no jwks_uri`);
            }
            return metadata.jwks_uri;
          };
    return new RemoteKeySet({
      issuer: config.issuer,
      uri,
      ...this.options.jwksCache,
      timeout: this.options.timeout,
      maxBytes: this.options.maxResponseBytes,
      events: this.#events,
    });
  }

  /** Metadata, fetched once; a failure is not cached, so the next key-set load tries again. */
  #discover(issuer: string): Promise<AuthorizationServerMetadata> {
    let pending = this.#metadata.get(issuer);
    if (pending === undefined) {
      pending = discoverAuthorizationServer(issuer, {
        timeout: this.options.timeout,
        maxBytes: this.options.maxResponseBytes,
        allowHttp: true, // the issuer URL itself was checked by the options
      }).then(
        (metadata) => {
          this.#events.emit('discovery.loaded', { issuer, jwksUri: metadata.jwks_uri });
          return metadata;
        },
        (error: unknown) => {
          this.#metadata.delete(issuer);
          this.#events.emit('discovery.failed', { issuer, error });
          throw error;
        },
      );
      this.#metadata.set(issuer, pending);
    }
    return pending;
  }

  /** Subscribe to operator events (key loads, refresh failures, discovery). */
  on<E extends GuardEventName>(name: E, listener: GuardEventListener<E>): this {
    this.#events.on(name, listener);
    return this;
  }

  off<E extends GuardEventName>(name: E, listener: GuardEventListener<E>): this {
    this.#events.off(name, listener);
    return this;
  }

  /**
   * Warm up: discover metadata and load every remote key set now. Rejects with a
   * `ConfigurationError` (`ERR_BEARER_CONFIG_ISSUER_UNUSABLE`) naming the issuer when one cannot
   * be used, so a misconfigured service fails at start-up instead of on its first request.
   */
  async ready(): Promise<void> {
    const warmUps: { issuer: string; load: () => Promise<void> }[] = [];
    for (const { config, keySet } of this.#issuers.values()) {
      if (keySet !== undefined) warmUps.push({ issuer: config.issuer, load: () => keySet.load() });
    }
    const introspector = this.#introspector;
    if (introspector !== undefined)
      warmUps.push({ issuer: introspector.issuer, load: () => introspector.ready() });
    for (const { issuer, load } of warmUps) {
      try {
        await load();
      } catch (error) {
        const cause = error instanceof BearerGuardError ? error.cause : error;
        throw new ConfigurationError(
          'ERR_BEARER_CONFIG_ISSUER_UNUSABLE',
          `bearer-guard: the keys or metadata of issuer ${issuer} cannot be loaded (${cause instanceof Error ? cause.message : String(cause)}). ` +
            'Check `issuer`, `jwksUri` or `introspection.endpoint`, and that the authorization server is reachable.',
          { cause },
        );
      }
    }
  }

  /**
   * Authenticate a request: extract the bearer token (RFC 6750 §2) and validate it. Resolves to the
   * principal, or to `undefined` for a request without a token when `credentialsRequired` is off.
   * Rejects with a {@link BearerGuardError}.
   */
  async authenticate(request: ResourceRequest): Promise<Principal | undefined> {
    let token: string | undefined;
    try {
      token = extractBearerToken(request, this.options.tokenLocations);
    } catch (error) {
      throw this.#challenge(error);
    }
    if (token === undefined) {
      if (!this.options.credentialsRequired) return undefined;
      throw this.missingCredentials();
    }
    return this.verify(token);
  }

  /** Validate a bearer token string. Rejects with a {@link BearerGuardError}. */
  async verify(token: string): Promise<Principal> {
    try {
      if (this.#introspector === undefined) {
        // The cache first: a repeated token (the hot path) costs a hash and a lookup, no decoding.
        const digest = this.#cache === undefined ? '' : tokenDigest(token);
        return (
          this.#cache?.get(digest, epochSeconds()) ??
          (await this.#verifyJwt(token, this.#selectIssuer(token), digest))
        );
      }
      const digest = tokenDigest(token);
      const local = this.#localIssuer(token);
      if (local === undefined) return await this.#introspector.introspect(token, digest);
      const principal = await this.#verifyJwt(token, local, digest);
      // `introspectJwts`: the signature check runs first, then the server confirms it is still active.
      if (this.#introspectJwts) await this.#introspector.introspect(token, digest);
      return principal;
    } catch (error) {
      throw this.#challenge(error);
    }
  }

  async #verifyJwt(token: string, issuer: TrustedIssuer, knownDigest?: string): Promise<Principal> {
    const verify = issuer.verify;
    if (verify === undefined) throw new Error('unreachable: issuer without local validation');
    const digest = knownDigest ?? (this.#cache === undefined ? '' : tokenDigest(token));
    const cached = this.#cache?.get(digest, epochSeconds());
    if (cached !== undefined) return cached;
    const payload = await verify(token);
    const principal = createPrincipal(token, 'jwt', payload, readScopes(payload, this.options.scopeClaims));
    this.#cache?.set(digest, principal, epochSeconds());
    return principal;
  }

  /** With introspection configured: the local issuer of a JWS whose `iss` we trust, else `undefined` (introspect). */
  #localIssuer(token: string): TrustedIssuer | undefined {
    if (this.#issuers.size === 0) return undefined;
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      return undefined; // not a JWT: an opaque token
    }
    return typeof iss === 'string' ? this.#issuers.get(iss) : undefined;
  }

  // RFC 8725 §3.10 / the rule: an unverified `iss` only selects among configured issuers.
  #selectIssuer(token: string): TrustedIssuer {
    if (this.#single !== undefined) {
      // docs/errors.md: "An unknown iss never causes a fetch" — with one issuer too. Without this,
      // a foreign token with a random kid costs a JWKS refetch (and uses up the immediate one a real
      // new key needs). Undecodable tokens and a missing `iss` are left to jose's exact reasons.
      let iss: unknown;
      try {
        iss = decodeJwt(token).iss;
      } catch {
        return this.#single;
      }
      if (iss !== undefined && iss !== this.#single.config.issuer) {
        throw new BearerGuardError('ERR_BEARER_TOKEN_ISSUER_INVALID', {
          cause: new Error(`iss ${JSON.stringify(iss)}`),
        });
      }
      return this.#single;
    }
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch (cause) {
      throw new BearerGuardError('ERR_BEARER_TOKEN_MALFORMED', { cause });
    }
    const trusted = typeof iss === 'string' ? this.#issuers.get(iss) : undefined;
    if (trusted === undefined) {
      throw new BearerGuardError('ERR_BEARER_TOKEN_ISSUER_INVALID', {
        cause: new Error(`iss ${String(iss)}`),
      });
    }
    return trusted;
  }

  /** The error for a request without a token: 401 and a bare challenge (RFC 6750 §3.1). */
  missingCredentials(): BearerGuardError {
    return this.#challenge(new BearerGuardError('ERR_BEARER_TOKEN_MISSING'));
  }

  /**
   * Throw unless the principal holds `required` scopes: all of them (`'all'`) or one (`'any'`).
   * Missing principal: the missing-credentials error. Failure: 403 `insufficient_scope` with
   * `scope="<required>"` (RFC 6750 §3.1).
   */
  requireScopes(principal: Principal | undefined, required: readonly string[], mode: 'all' | 'any'): void {
    if (principal === undefined) throw this.missingCredentials();
    if (matchScopes(required, principal.scopes, mode)) return;
    throw this.#challenge(
      new BearerGuardError('ERR_BEARER_INSUFFICIENT_SCOPE', { scope: required.join(' ') }),
    );
  }

  /** Throw 401 `invalid_token` unless the principal's `aud` contains one of `audiences` (RFC 9068 §4). */
  requireAudience(principal: Principal | undefined, audiences: readonly string[]): void {
    if (principal === undefined) throw this.missingCredentials();
    if (principal.audience.some((aud) => audiences.includes(aud))) return;
    throw this.#challenge(new BearerGuardError('ERR_BEARER_TOKEN_AUDIENCE_INVALID'));
  }

  #challenge<T>(error: T): T {
    if (error instanceof BearerGuardError) {
      error.realm = this.options.realm;
      error.resourceMetadata = this.options.resourceMetadata;
    }
    return error;
  }
}

/** Build a guard; throws `ConfigurationError` for any wrong option. @see BearerGuard */
export function createGuard(options: GuardOptions): BearerGuard {
  return new BearerGuard(options);
}
