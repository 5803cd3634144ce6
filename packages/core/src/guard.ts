import { extractAccessToken, type PresentedToken, type ResourceRequest } from './bearer-token.js';
import {
  traceAuthentication,
  traceBound,
  traceCached,
  type AuthenticationSteps,
} from './authentication-trace.js';
import {
  authenticateChannel,
  authorizeChannel,
  publishAuthorization,
  type AuthenticateMessage,
} from './diagnostics.js';
import { Challenges } from './challenges.js';
import { BearerGuardError } from './errors.js';
import { ProofOfPossession } from './proof-of-possession.js';
import { GuardEvents, type GuardEventListener, type GuardEventName } from './events.js';
import type { RemoteKeySet } from './jwks.js';
import { resolveOptions, type GuardOptions, type ResolvedOptions } from './options.js';
import type { Principal } from './principal.js';
import { matchScopes } from './scope.js';
import { TokenValidation } from './token-validation.js';
import { warmUp } from './warm-up.js';
import { trustIssuers } from './trusted-issuers.js';

/**
 * A configured resource server: validates bearer tokens and decides per-route authorization.
 * Framework-agnostic; `@bearer-guard/express` wraps it.
 */
export class BearerGuard {
  /** The validated options with defaults filled in. */
  readonly options: ResolvedOptions;
  readonly #events = new GuardEvents();
  readonly #tokens: TokenValidation;
  readonly #keySets: readonly RemoteKeySet[];
  readonly #possession: ProofOfPossession;
  /** This guard's steps, for the traced path (authentication-trace.ts). */
  readonly #steps: AuthenticationSteps;
  readonly #challenges: Challenges;

  constructor(options: GuardOptions) {
    this.options = resolveOptions(options);
    this.#possession = new ProofOfPossession(this.options);
    this.#challenges = new Challenges(this.options);
    const trusted = trustIssuers(this.options, this.#events);
    this.#tokens = new TokenValidation(trusted, this.options);
    this.#keySets = trusted.keySets;
    this.#steps = {
      extract: (request) => this.#extract(request),
      withoutToken: () => {
        if (this.options.credentialsRequired) throw this.missingCredentials();
      },
      bound: (request, presented, message) => this.#bound(request, presented, message),
      cachedHit: (presented, message) =>
        this.#cachedHit(presented.token, this.#tokens.digest(presented.token), message),
      confirm: (request, presented, principal) => this.#confirm(request, presented, principal),
    };
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
    await warmUp(this.#keySets, this.#tokens);
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
    if (authenticateChannel.hasSubscribers) return traceCached(this.#steps, request);
    const presented = this.#extract(request);
    // A DPoP proof is checked and recorded on every request, possibly by an asynchronous store:
    // `authenticate()` does it; answering here and again there would record it twice.
    if (presented === undefined || presented.scheme === 'dpop') return undefined;
    const principal = this.#cached(presented.token, this.#tokens.digest(presented.token));
    return principal === undefined ? undefined : (this.#confirm(request, presented, principal) as Principal);
  }

  /**
   * {@link authenticate} for adapters that want no promise where none is needed: the principal
   * itself when the token's cached result holds and no DPoP proof is to be checked (a proof's
   * signature is checked on libuv's pool: a promise); `undefined` for a request without a token when
   * `credentialsRequired` is off; otherwise a promise of the principal. What can be refused without
   * I/O (a malformed request, no token, a cached token that has expired) throws at once; anything
   * else rejects. The token is read once either way (and hashed at most once, for introspection).
   */
  authenticateNow(request: ResourceRequest): Principal | undefined | Promise<Principal> {
    if (authenticateChannel.hasSubscribers) return traceAuthentication(this.#steps, request);
    const presented = this.#extract(request);
    if (presented === undefined) {
      if (!this.options.credentialsRequired) return undefined;
      throw this.missingCredentials();
    }
    return this.#bound(request, presented);
  }

  /**
   * Validate a bearer token string, as if presented with the `Bearer` scheme and nothing else: a
   * token bound to a key or certificate is refused. Rejects with a {@link BearerGuardError}.
   */
  async verify(token: string): Promise<Principal> {
    const presented: PresentedToken = { token, scheme: 'bearer' };
    if (authenticateChannel.hasSubscribers) return await traceBound(this.#steps, undefined, presented);
    return await this.#bound(undefined, presented);
  }

  /**
   * The current DPoP server nonce (RFC 9449 §9), for a `DPoP-Nonce` header on a successful answer,
   * or `undefined` when nonces are off.
   */
  dpopNonce(): string | undefined {
    return this.options.dpop?.nonces?.current();
  }

  /**
   * Make every challenge carry `resource_metadata="<url>"` (RFC 9728 §5.1): called by the adapter
   * that serves the protected-resource metadata document for this guard. Throws a
   * `ConfigurationError` when the `resourceMetadata` option names another URL, since clients would
   * then be sent to a document that does not describe this resource (§3.3).
   */
  advertiseResourceMetadata(url: string): void {
    this.#challenges.advertise(url);
  }

  /** The token's principal (cached or validated), then its binding checked against this request. */
  #bound(
    request: ResourceRequest | undefined,
    presented: PresentedToken,
    message?: AuthenticateMessage,
  ): Principal | Promise<Principal> {
    let principal: Principal | Promise<Principal>;
    try {
      principal = this.#answer(presented.token, message);
    } catch (error) {
      throw this.#challenges.withScheme(error, presented.scheme);
    }
    if (!(principal instanceof Promise)) return this.#confirm(request, presented, principal);
    return principal.then(
      (validated) => this.#confirm(request, presented, validated),
      (error: unknown) => {
        throw this.#challenges.withScheme(error, presented.scheme);
      },
    );
  }

  #confirm(
    request: ResourceRequest | undefined,
    presented: PresentedToken,
    principal: Principal,
  ): Principal | Promise<Principal> {
    let confirmed: Principal | Promise<Principal>;
    try {
      confirmed = this.#possession.confirm(request, presented, principal);
    } catch (error) {
      throw this.#challenges.withScheme(error, presented.scheme);
    }
    if (!(confirmed instanceof Promise)) return confirmed;
    return confirmed.catch((error: unknown) => {
      throw this.#challenges.withScheme(error, presented.scheme);
    });
  }

  /** {@link #cached} for the traced path: also tells which cache answered, and whose issuer it was. */
  #cachedHit(token: string, digest: string, message: AuthenticateMessage): Principal | undefined {
    const principal = this.#cached(token, digest);
    if (principal !== undefined) {
      message.cache = 'memory';
      // Known before the binding check, which may still refuse the request.
      message.source = principal.source;
      message.issuer = this.#tokens.configuredIssuer(principal);
    }
    return principal;
  }

  /** The cached principal of `token`, else a promise of its validation. */
  #answer(token: string, message?: AuthenticateMessage): Principal | Promise<Principal> {
    const digest = this.#tokens.digest(token);
    const cached =
      message === undefined ? this.#cached(token, digest) : this.#cachedHit(token, digest, message);
    return cached ?? this.#tokens.validate(token, digest, message);
  }

  /** {@link #fromCache}, its refusals (a cached token past `exp`) turned into challenges. */
  #cached(token: string, digest: string): Principal | undefined {
    try {
      return this.#tokens.fromCache(token, digest);
    } catch (error) {
      throw this.#challenges.withScheme(error);
    }
  }

  #extract(request: ResourceRequest): PresentedToken | undefined {
    try {
      return extractAccessToken(request, this.options.tokenLocations, this.options.dpop !== undefined);
    } catch (error) {
      throw this.#challenges.withScheme(error);
    }
  }

  /** The error for a request without a token: 401 and a bare challenge (RFC 6750 §3.1). */
  missingCredentials(): BearerGuardError {
    return this.#challenges.missingCredentials();
  }

  /**
   * Throw unless the principal holds `required` scopes: all of them (`'all'`) or one (`'any'`).
   * Missing principal: the missing-credentials error. Failure: 403 `insufficient_scope` with
   * `scope="<required>"` (RFC 6750 §3.1).
   */
  requireScopes(principal: Principal | undefined, required: readonly string[], mode: 'all' | 'any'): void {
    const refusal =
      principal === undefined
        ? this.missingCredentials()
        : matchScopes(required, principal.scopes, mode)
          ? undefined
          : this.challengeFor(
              new BearerGuardError('ERR_BEARER_INSUFFICIENT_SCOPE', { scope: required.join(' ') }),
              principal,
            );
    decided('scopes', refusal);
  }

  /** Throw 401 `invalid_token` unless the principal's `aud` contains one of `audiences` (RFC 9068 §4). */
  requireAudience(principal: Principal | undefined, audiences: readonly string[]): void {
    const refusal =
      principal === undefined
        ? this.missingCredentials()
        : principal.audience.some((aud) => audiences.includes(aud))
          ? undefined
          : this.challengeFor(new BearerGuardError('ERR_BEARER_TOKEN_AUDIENCE_INVALID'), principal);
    decided('audience', refusal);
  }

  /**
   * Give a refusal raised outside the guard (a route check of an adapter, such as SMART scopes)
   * the challenge this guard gives its own: realm, `resource_metadata` (RFC 9728 §5.1), and the
   * scheme the principal's token came with, with DPoP's `algs` (RFC 9449 §7.1). Returns a copy
   * when the error already carries a challenge; anything but a {@link BearerGuardError} unchanged.
   */
  challengeFor<T>(error: T, principal: Principal | undefined): T {
    return this.#challenges.withScheme(error, this.#challenges.schemeOf(principal));
  }
}

/** A route guard's decision: published on `bearer-guard:authorize`, then thrown when a refusal. */
function decided(policy: 'scopes' | 'audience', refusal: BearerGuardError | undefined): void {
  if (authorizeChannel.hasSubscribers) publishAuthorization(policy, refusal);
  if (refusal !== undefined) throw refusal;
}

/** Build a guard; throws `ConfigurationError` for any wrong option. @see BearerGuard */
export function createGuard(options: GuardOptions): BearerGuard {
  return new BearerGuard(options);
}
