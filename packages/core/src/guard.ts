import { extractAccessToken, type PresentedToken, type ResourceRequest } from './bearer-token.js';
import { readCompactToken, type CompactJws } from './compact-jws.js';
import {
  authenticateChannel,
  authorizeChannel,
  bindingOf,
  failureOf,
  publishAuthorization,
  type AuthenticateMessage,
} from './diagnostics.js';
import { BearerGuardError, ConfigurationError } from './errors.js';
import { ProofOfPossession } from './proof-of-possession.js';
import { GuardEvents, type GuardEventListener, type GuardEventName } from './events.js';
import type { Introspector } from './introspection.js';
import type { VerifiedJwt } from './jwt-access-token.js';
import { resolveOptions, type GuardOptions, type ResolvedOptions } from './options.js';
import { createPrincipal, type Principal } from './principal.js';
import { matchScopes, readScopes } from './scope.js';
import { VerifiedTokenCache } from './token-cache.js';
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
  readonly #introspector: Introspector | undefined;
  /** `introspectJwts`: the introspecting issuer's JWTs are introspected after local validation. */
  readonly #introspectJwts: boolean;
  readonly #keySets: readonly RemoteKeySet[];
  readonly #cache: VerifiedTokenCache | undefined;
  readonly #possession: ProofOfPossession;
  /** RFC 9728 §5.1 `resource_metadata` of every challenge: the option, or the document served for this guard. */
  #resourceMetadata: string | undefined;

  constructor(options: GuardOptions) {
    this.options = resolveOptions(options);
    this.#possession = new ProofOfPossession(this.options);
    this.#resourceMetadata = this.options.resourceMetadata;
    const trusted = trustIssuers(this.options, this.#events);
    this.#issuers = trusted.local;
    this.#introspector = trusted.introspector;
    this.#keySets = trusted.keySets;
    this.#introspectJwts =
      trusted.introspector !== undefined &&
      this.options.issuers.some((entry) => entry.introspection?.introspectJwts === true);
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
    const warmUps = this.#keySets.map((keySet) => ({
      issuer: keySet.issuer,
      load: async () => {
        const trusted = this.#issuers.get(keySet.issuer);
        // No `jwks_uri` in the metadata: this issuer's JWTs are introspected, so there is nothing to
        // load, unless RFC 9701 answers need the keys (then the load fails and says so).
        const published = (await trusted?.keysPublished?.()) ?? true;
        if (published || trusted?.config.introspection?.jwtResponse === true) await keySet.load();
      },
    }));
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
    if (authenticateChannel.hasSubscribers) return this.#tracedCached(request);
    const presented = this.#extract(request);
    // A DPoP proof is checked and recorded on every request, possibly by an asynchronous store:
    // `authenticate()` does it; answering here and again there would record it twice.
    if (presented === undefined || presented.scheme === 'dpop') return undefined;
    const principal = this.#cached(presented.token, this.#digest(presented.token));
    return principal === undefined ? undefined : (this.#confirm(request, presented, principal) as Principal);
  }

  /**
   * {@link authenticate} for adapters that want no promise where none is needed: the principal
   * itself when the token's cached result holds; `undefined` for a request without a token when
   * `credentialsRequired` is off; otherwise a promise of the principal. What can be refused without
   * I/O (a malformed request, no token, a cached token that has expired) throws at once; anything
   * else rejects. The token is read once either way (and hashed at most once, for introspection).
   */
  authenticateNow(request: ResourceRequest): Principal | undefined | Promise<Principal> {
    if (authenticateChannel.hasSubscribers) return this.#traced(request);
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
    if (authenticateChannel.hasSubscribers)
      return await this.#tracedBound(undefined, presented, newMessage());
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
    if (this.#resourceMetadata !== undefined && this.#resourceMetadata !== url) {
      throw new ConfigurationError(
        'ERR_BEARER_CONFIG_CONFLICTING_OPTIONS',
        `bearer-guard: option \`resourceMetadata\` is ${this.#resourceMetadata}, but the metadata document is served at ${url}. ` +
          'Remove `resourceMetadata` (the served URL is then advertised) or make the two agree.',
      );
    }
    this.#resourceMetadata = url;
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
      throw this.#challenge(error, presented.scheme);
    }
    if (!(principal instanceof Promise)) return this.#confirm(request, presented, principal);
    return principal.then(
      (validated) => this.#confirm(request, presented, validated),
      (error: unknown) => {
        throw this.#challenge(error, presented.scheme);
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
      throw this.#challenge(error, presented.scheme);
    }
    if (!(confirmed instanceof Promise)) return confirmed;
    return confirmed.catch((error: unknown) => {
      throw this.#challenge(error, presented.scheme);
    });
  }

  /**
   * {@link authenticateNow} published on `bearer-guard:authenticate` (diagnostics.ts). A separate
   * path, so that without a subscriber the untraced one costs a single `hasSubscribers` test. A
   * request without a token that needs none is not an authentication and publishes nothing.
   */
  #traced(request: ResourceRequest): Principal | undefined | Promise<Principal> {
    let presented: PresentedToken | undefined;
    try {
      presented = this.#extract(request);
      if (presented === undefined) {
        if (!this.options.credentialsRequired) return undefined;
        throw this.missingCredentials();
      }
    } catch (error) {
      const message = newMessage();
      authenticateChannel.start.publish(message);
      refuse(message, error);
      throw error;
    }
    return this.#tracedBound(request, presented, newMessage());
  }

  /** {@link authenticateCached}, traced: a hit or a refusal publishes; a miss leaves it to `authenticate`. */
  #tracedCached(request: ResourceRequest): Principal | undefined {
    const presented = this.#extract(request);
    if (presented === undefined || presented.scheme === 'dpop') return undefined;
    const message = newMessage();
    try {
      const principal = this.#cachedHit(presented.token, this.#digest(presented.token), message);
      if (principal === undefined) return undefined;
      const confirmed = this.#confirm(request, presented, principal) as Principal;
      authenticateChannel.start.publish(message);
      accept(message, confirmed);
      authenticateChannel.end.publish(message);
      return confirmed;
    } catch (error) {
      authenticateChannel.start.publish(message);
      refuse(message, error);
      throw error;
    }
  }

  /**
   * {@link #bound}, traced: `start`, then `end` for an answer given at once, `asyncStart`/`asyncEnd`
   * for one that needed a validation or an asynchronous proof check.
   */
  #tracedBound(
    request: ResourceRequest | undefined,
    presented: PresentedToken,
    message: AuthenticateMessage,
  ): Principal | Promise<Principal> {
    authenticateChannel.start.publish(message);
    let answer: Principal | Promise<Principal>;
    try {
      answer = this.#bound(request, presented, message);
    } catch (error) {
      refuse(message, error);
      throw error;
    }
    if (!(answer instanceof Promise)) {
      accept(message, answer);
      authenticateChannel.end.publish(message);
      return answer;
    }
    authenticateChannel.end.publish(message);
    return answer.then(
      (validated) => {
        accept(message, validated);
        authenticateChannel.asyncStart.publish(message);
        authenticateChannel.asyncEnd.publish(message);
        return validated;
      },
      (error: unknown) => {
        Object.assign(message, failureOf(error));
        authenticateChannel.error.publish(message);
        authenticateChannel.asyncStart.publish(message);
        authenticateChannel.asyncEnd.publish(message);
        throw error;
      },
    );
  }

  /** {@link #cached} for the traced path: also tells which cache answered, and whose issuer it was. */
  #cachedHit(token: string, digest: string, message: AuthenticateMessage): Principal | undefined {
    const principal = this.#cached(token, digest);
    if (principal !== undefined) {
      message.cache = 'memory';
      // Known before the binding check, which may still refuse the request.
      message.source = principal.source;
      message.issuer = this.#configuredIssuer(principal);
    }
    return principal;
  }

  /** The configured issuer string of a principal (never the token's own text). */
  #configuredIssuer(principal: Principal): string | undefined {
    if (principal.source === 'introspection') return this.#introspector?.issuer;
    return this.#issuers.get(principal.issuer)?.config.issuer;
  }

  /** The cached principal of `token`, else a promise of its validation. */
  #answer(token: string, message?: AuthenticateMessage): Principal | Promise<Principal> {
    const digest = this.#digest(token);
    const cached =
      message === undefined ? this.#cached(token, digest) : this.#cachedHit(token, digest, message);
    return cached ?? this.#validate(token, digest, message);
  }

  /** {@link #fromCache}, its refusals (a cached token past `exp`) turned into challenges. */
  #cached(token: string, digest: string): Principal | undefined {
    try {
      return this.#fromCache(token, digest);
    } catch (error) {
      throw this.#challenge(error);
    }
  }

  /**
   * Validate a token the caches could not answer for: route it by what it is (compact-jws.ts),
   * before any lookup, key fetch or call. Throws or rejects with a {@link BearerGuardError}
   * (challenged by {@link #bound}). A JWS signed by a key already selected once is verified
   * synchronously: no promise on the cold path unless something really waits (a key-set load,
   * discovery, an introspection call).
   *
   * The caches need no such check in front of them: both hold only tokens that passed it here (the
   * token cache requires the very string it verified, the introspection cache is keyed by the
   * SHA-256 of the exact string), so a token that is not canonical can never be a hit.
   */
  #validate(token: string, digest: string, message?: AuthenticateMessage): Principal | Promise<Principal> {
    const compact = readCompactToken(token);
    const introspector = this.#introspector;
    if (compact.kind !== 'jws') {
      // Opaque to us, or a JWE we hold no key for: only its issuer can tell (RFC 7662 §2).
      if (introspector !== undefined) {
        if (message !== undefined)
          Object.assign(message, { source: 'introspection', issuer: introspector.issuer });
        return introspector.introspect(token, digest, message);
      }
      throw new BearerGuardError('ERR_BEARER_TOKEN_MALFORMED', {
        cause: new Error(compact.kind === 'jwe' ? 'a JWE, and no introspection' : 'not a JWS'),
      });
    }
    const iss = this.#issuerOf(compact.claims);
    const local = this.#issuers.get(iss);
    if (message !== undefined) message.issuer = local?.config.issuer ?? introspector?.issuer;
    const published = local?.keysPublished?.() ?? true;
    if (published instanceof Promise) {
      return published.then((keys) => this.#verifyJws(token, digest, compact, local, keys, message));
    }
    return this.#verifyJws(token, digest, compact, local, published, message);
  }

  /** {@link #validate} for a JWS of a configured issuer, once it is known whether its keys are published. */
  #verifyJws(
    token: string,
    digest: string,
    compact: CompactJws,
    local: TrustedIssuer | undefined,
    published: boolean,
    message: AuthenticateMessage | undefined,
  ): Principal | Promise<Principal> {
    const introspector = this.#introspector;
    // No local verifier (`localJwts: false`), or metadata without `jwks_uri`: #issuerOf let it
    // through, so it is the introspecting issuer's JWT, and that server validates it.
    if (local === undefined || !published) {
      if (introspector === undefined) throw new Error('unreachable: an issuer without keys or introspection');
      if (message !== undefined) message.source = 'introspection';
      return introspector.introspect(token, digest, message);
    }
    if (message !== undefined) message.source = 'jwt';
    // `introspectJwts`: the signature check runs first, then the server confirms it is still active.
    const confirm = this.#introspectJwts && local.config.issuer === introspector?.issuer;
    const verified = local.verify(token, compact);
    if (verified instanceof Promise || confirm) {
      return Promise.resolve(verified).then(async (result) => {
        const principal = this.#remember(token, result);
        if (confirm) await introspector.introspect(token, digest);
        return principal;
      });
    }
    return this.#remember(token, verified);
  }

  /**
   * The unverified `iss` of a JWS, only to choose among configured issuers (RFC 8725 §3.10); a
   * JWS of no configured issuer is refused here, never sent to introspection or to a key set: it is
   * not opaque (its claims are readable), and no server of ours issued it.
   */
  #issuerOf(claims: Readonly<Record<string, unknown>>): string {
    const iss = claims['iss'];
    // Absent: a missing claim, as jose reports it (CLAIM_INVALID); present: it must be one of ours.
    if (iss === undefined) {
      throw new BearerGuardError('ERR_BEARER_TOKEN_CLAIM_INVALID', { cause: new Error('no iss') });
    }
    if (typeof iss !== 'string' || (!this.#issuers.has(iss) && iss !== this.#introspector?.issuer)) {
      throw new BearerGuardError('ERR_BEARER_TOKEN_ISSUER_INVALID', {
        cause: new Error(`iss ${JSON.stringify(iss)}`),
      });
    }
    return iss;
  }

  /** The introspection cache's key (a namespaced SHA-256); not computed at all without introspection. */
  #digest(token: string): string {
    return this.#introspector === undefined ? '' : this.#introspector.digest(token);
  }

  #extract(request: ResourceRequest): PresentedToken | undefined {
    try {
      return extractAccessToken(request, this.options.tokenLocations, this.options.dpop !== undefined);
    } catch (error) {
      throw this.#challenge(error);
    }
  }

  /** A still-valid cached result: a verified JWT (and, with `introspectJwts`, its cached introspection), or a cached introspection answer. */
  #fromCache(token: string, digest: string): Principal | undefined {
    const jwt = this.#cache?.get(token, Date.now());
    if (jwt !== undefined) {
      return !this.#introspectJwts ||
        jwt.issuer !== this.#introspector?.issuer ||
        this.#introspector.cached(token, digest) !== undefined
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
    const refusal =
      principal === undefined
        ? this.missingCredentials()
        : matchScopes(required, principal.scopes, mode)
          ? undefined
          : this.#challenge(
              new BearerGuardError('ERR_BEARER_INSUFFICIENT_SCOPE', { scope: required.join(' ') }),
              this.#schemeOf(principal),
            );
    if (authorizeChannel.hasSubscribers) publishAuthorization('scopes', refusal);
    if (refusal !== undefined) throw refusal;
  }

  /** Throw 401 `invalid_token` unless the principal's `aud` contains one of `audiences` (RFC 9068 §4). */
  requireAudience(principal: Principal | undefined, audiences: readonly string[]): void {
    const refusal =
      principal === undefined
        ? this.missingCredentials()
        : principal.audience.some((aud) => audiences.includes(aud))
          ? undefined
          : this.#challenge(
              new BearerGuardError('ERR_BEARER_TOKEN_AUDIENCE_INVALID'),
              this.#schemeOf(principal),
            );
    if (authorizeChannel.hasSubscribers) publishAuthorization('audience', refusal);
    if (refusal !== undefined) throw refusal;
  }

  /** The scheme a validated principal's token came with: only DPoP-bound tokens pass on `DPoP`. */
  #schemeOf(principal: Principal): 'bearer' | 'dpop' {
    return this.options.dpop !== undefined &&
      principal.confirmation !== undefined &&
      'jkt' in principal.confirmation
      ? 'dpop'
      : 'bearer';
  }

  #challenge<T>(error: T, scheme: 'bearer' | 'dpop' = 'bearer'): T {
    if (error instanceof BearerGuardError) {
      error.realm = this.options.realm;
      error.resourceMetadata = this.#resourceMetadata;
      const dpop = this.options.dpop;
      error.challenge = {
        scheme,
        dpopAlgorithms: dpop?.algorithms,
        dpopRequired: dpop?.required ?? false,
        dpopNonce: error.code === 'ERR_BEARER_DPOP_NONCE_REQUIRED' ? dpop?.nonces?.current() : undefined,
      };
    }
    return error;
  }
}

function newMessage(): AuthenticateMessage {
  return {
    issuer: undefined,
    source: undefined,
    cache: 'none',
    outcome: undefined,
    code: undefined,
    binding: undefined,
  };
}

function accept(message: AuthenticateMessage, principal: Principal): void {
  message.outcome = 'accepted';
  message.source = principal.source;
  message.binding = bindingOf(principal);
}

/** A synchronous refusal: `error`, then `end`. */
function refuse(message: AuthenticateMessage, error: unknown): void {
  Object.assign(message, failureOf(error));
  authenticateChannel.error.publish(message);
  authenticateChannel.end.publish(message);
}

/** Build a guard; throws `ConfigurationError` for any wrong option. @see BearerGuard */
export function createGuard(options: GuardOptions): BearerGuard {
  return new BearerGuard(options);
}
