import { decodeJwt } from 'jose';
import { extractBearerToken, type ResourceRequest } from './bearer-token.js';
import { BearerGuardError, ConfigurationError } from './errors.js';
import { GuardEvents, type GuardEventListener, type GuardEventName } from './events.js';
import type { Introspector } from './introspection.js';
import type { VerifiedJwt } from './jwt-access-token.js';
import { resolveOptions, type GuardOptions, type ResolvedOptions } from './options.js';
import { createPrincipal, type Principal } from './principal.js';
import { matchScopes, readScopes } from './scope.js';
import { tokenDigest, VerifiedTokenCache } from './token-cache.js';
import { trustIssuers, type TrustedIssuer } from './trusted-issuers.js';
import type { RemoteKeySet } from './jwks.js';

/**
 * A configured resource server: validates bearer tokens and decides per-route authorization.
 * Framework-agnostic; `@bearer-guard/express` wraps it.
 */
export class BearerGuard {
  /** The validated options with defaults filled in. */
  readonly options: ResolvedOptions;
  readonly #events = new GuardEvents();
  /** Issuers whose JWTs are validated locally, by `iss`. */
  readonly #issuers: Map<string, TrustedIssuer>;
  /** The only issuer, when there is one and no introspection: no need to read `iss` to choose. */
  readonly #single: TrustedIssuer | undefined;
  readonly #introspector: Introspector | undefined;
  readonly #introspectJwts: boolean;
  readonly #keySets: readonly RemoteKeySet[];
  readonly #cache: VerifiedTokenCache | undefined;

  constructor(options: GuardOptions) {
    this.options = resolveOptions(options);
    const trusted = trustIssuers(this.options, this.#events);
    this.#issuers = trusted.local;
    this.#introspector = trusted.introspector;
    this.#keySets = trusted.keySets;
    this.#introspectJwts =
      trusted.introspector !== undefined &&
      this.options.issuers.some((entry) => entry.introspection?.introspectJwts === true);
    this.#single =
      this.#issuers.size === 1 && trusted.introspector === undefined
        ? this.#issuers.values().next().value
        : undefined;
    // Without an issuer whose JWTs are verified here the cache could never hold anything.
    this.#cache =
      this.options.tokenCacheMax > 0 && this.#issuers.size > 0
        ? new VerifiedTokenCache(this.options.tokenCacheMax, this.options, this.options.tokenCacheAdmission)
        : undefined;
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
    const warmUps = this.#keySets.map((keySet) => ({ issuer: keySet.issuer, load: () => keySet.load() }));
    const introspector = this.#introspector;
    if (introspector !== undefined) {
      warmUps.push({ issuer: introspector.issuer, load: () => introspector.ready() });
    }
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
    return await this.authenticateNow(request);
  }

  /**
   * The synchronous fast path: the principal when the request's token was validated before and
   * its cached result still holds, else `undefined` (call {@link authenticate}). It throws as
   * `authenticate()` does for a malformed request or a cached token that has expired.
   */
  authenticateCached(request: ResourceRequest): Principal | undefined {
    const token = this.#extract(request);
    return token === undefined ? undefined : this.#cached(token, this.#digest(token));
  }

  /**
   * {@link authenticate} for adapters that want no promise where none is needed: the principal
   * itself when the token's cached result holds; `undefined` for a request without a token when
   * `credentialsRequired` is off; otherwise a promise of the principal. What can be refused without
   * I/O (a malformed request, no token, a cached token that has expired) throws at once; anything
   * else rejects. The token is read once either way (and hashed at most once, for introspection).
   */
  authenticateNow(request: ResourceRequest): Principal | undefined | Promise<Principal> {
    const token = this.#extract(request);
    if (token === undefined) {
      if (!this.options.credentialsRequired) return undefined;
      throw this.missingCredentials();
    }
    return this.#answer(token);
  }

  /** Validate a bearer token string. Rejects with a {@link BearerGuardError}. */
  async verify(token: string): Promise<Principal> {
    return await this.#answer(token);
  }

  /** The cached principal of `token`, else a promise of its validation. */
  #answer(token: string): Principal | Promise<Principal> {
    const digest = this.#digest(token);
    return this.#cached(token, digest) ?? this.#validate(token, digest);
  }

  /** {@link #fromCache}, its refusals (a cached token past `exp`) turned into challenges. */
  #cached(token: string, digest: string): Principal | undefined {
    try {
      return this.#fromCache(token, digest);
    } catch (error) {
      throw this.#challenge(error);
    }
  }

  /** Validate a token the caches could not answer for. Rejects with a {@link BearerGuardError}. */
  async #validate(token: string, digest: string): Promise<Principal> {
    try {
      if (this.#introspector === undefined) {
        const issuer = this.#selectIssuer(token);
        return this.#remember(token, await issuer.verify(token));
      }
      const local = this.#localIssuer(token);
      if (local === undefined) return await this.#introspector.introspect(token, digest);
      const principal = this.#remember(token, await local.verify(token));
      // `introspectJwts`: the signature check runs first, then the server confirms it is still active.
      if (this.#introspectJwts) await this.#introspector.introspect(token, digest);
      return principal;
    } catch (error) {
      throw this.#challenge(error);
    }
  }

  /** The introspection cache's key (SHA-256); not computed at all without introspection. */
  #digest(token: string): string {
    return this.#introspector === undefined ? '' : tokenDigest(token);
  }

  #extract(request: ResourceRequest): string | undefined {
    try {
      return extractBearerToken(request, this.options.tokenLocations);
    } catch (error) {
      throw this.#challenge(error);
    }
  }

  /** A still-valid cached result: a verified JWT (and, with `introspectJwts`, its cached introspection), or a cached introspection answer. */
  #fromCache(token: string, digest: string): Principal | undefined {
    const jwt = this.#cache?.get(token, Date.now());
    if (jwt !== undefined) {
      return !this.#introspectJwts || this.#introspector?.cached(token, digest) !== undefined
        ? jwt
        : undefined;
    }
    return this.#introspector?.cached(token, digest);
  }

  /** The principal of a verified JWT, offered to the token cache with the key that verified it. */
  #remember(token: string, verified: VerifiedJwt): Principal {
    const { payload } = verified;
    const principal = createPrincipal(token, 'jwt', payload, readScopes(payload, this.options.scopeClaims));
    this.#cache?.set(principal, verified, Date.now());
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
    // One issuer: jose checks `iss` exactly, and the key set refuses to refetch for a token that
    // names another issuer (jwks.ts), so no decoding is needed here.
    if (this.#single !== undefined) return this.#single;
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch (cause) {
      throw new BearerGuardError('ERR_BEARER_TOKEN_MALFORMED', { cause });
    }
    const trusted = typeof iss === 'string' ? this.#issuers.get(iss) : undefined;
    if (trusted === undefined) {
      throw new BearerGuardError('ERR_BEARER_TOKEN_ISSUER_INVALID', {
        cause: new Error(`iss ${JSON.stringify(iss)}`),
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
