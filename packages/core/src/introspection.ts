import type { JWTVerifyGetKey } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { CircuitBreaker } from './circuit-breaker.js';
import type { AuthorizationServerMetadata } from './discovery.js';
import type { AuthenticateMessage } from './diagnostics.js';
import { BearerGuardError } from './errors.js';
import type { GuardEvents } from './events.js';
import { epochSeconds } from './internal/numeric-date.js';
import { IntrospectionCaller } from './introspection-call.js';
import {
  CachedAnswers,
  introspectionContext,
  isThenable,
  type IntrospectionCacheEntry,
} from './introspection-cache.js';
import { IntrospectionEndpoint } from './introspection-endpoint.js';
import {
  checkIntrospectionClaims,
  checkIntrospectionTimes,
  type IntrospectionChecks,
} from './introspection-response.js';
import type { ResolvedIntrospection } from './introspection-options.js';
import { createPrincipal, type Principal } from './principal.js';
import { tokenDigest } from './token-cache.js';
import { readScopes } from './scope.js';

export type { IntrospectionFailure } from './introspection-failure.js';

export interface IntrospectorContext {
  checks: IntrospectionChecks;
  scopeClaims: readonly string[];
  events: GuardEvents;
  /** The issuer's metadata (discovery), used when no endpoint is configured. */
  metadata: () => Promise<AuthorizationServerMetadata>;
  /** The issuer's keys and allowed algorithms, for RFC 9701 JWT responses. */
  keys: JWTVerifyGetKey | KeyObject | Uint8Array | undefined;
  algorithms: readonly string[];
  /** `allowInsecureHttp`: whether a discovered http endpoint off loopback is acceptable. */
  allowInsecureHttp: boolean;
}

/**
 * RFC 7662 token introspection, safe for production: the resource server authenticates itself,
 * results are cached (by SHA-256 of the token, in the namespace of this issuer, endpoint and
 * client) for at most `min(cache.maxSeconds, exp - now)`, inactive answers for a short negative
 * TTL, concurrent lookups of one token share one call, and a circuit breaker fails fast while the
 * endpoint is down. Every failure to get an answer is a 503, never a 401 (the token may be fine)
 * and never a pass; nothing a caller puts in its token counts against the breaker.
 *
 * The wire format is oauth4webapi's (`introspectionRequest` / `processIntrospectionResponse`).
 *
 * @see RFC 7662 §2, §4; RFC 9701 (JWT responses)
 */
export class Introspector {
  readonly #context: IntrospectorContext;
  /** The endpoint and client authentication (introspection-endpoint.ts). */
  readonly #endpoint: IntrospectionEndpoint;
  /** The calls behind the circuit breaker (introspection-call.ts). */
  readonly #caller: IntrospectionCaller;
  /** Lookups of a shared store and calls in flight, by digest: concurrent requests share them. */
  readonly #inFlight = new Map<string, Promise<{ entry: IntrospectionCacheEntry; shared: boolean }>>();
  /** The cache, in the namespace of this issuer, endpoint and client; `undefined` when off. */
  readonly #cache: CachedAnswers | undefined;
  /** Each entry's `context` (see `introspectionContext`). */
  readonly #namespace: string;
  /** Principals this introspector built, after every check of its own (see `cached`). */
  readonly #built = new WeakSet<Principal>();

  constructor(options: ResolvedIntrospection, context: IntrospectorContext) {
    this.#context = context;
    this.#namespace = introspectionContext({
      issuer: context.checks.issuer,
      endpoint: options.endpoint,
      clientId: options.clientId,
      credential: options.credential,
    });
    this.#cache =
      options.store === undefined
        ? undefined
        : new CachedAnswers({
            store: options.store,
            context: this.#namespace,
            issuer: context.checks.issuer,
            events: context.events,
            timeout: options.timeout,
            ...options.cache,
          });
    this.#endpoint = new IntrospectionEndpoint(options, context);
    this.#caller = new IntrospectionCaller(options, context, this.#endpoint, {
      cache: this.#cache,
      namespace: this.#namespace,
    });
  }

  /** The issuer whose endpoint this calls. */
  get issuer(): string {
    return this.#context.checks.issuer;
  }

  /** The breaker's state, for health endpoints. */
  get circuitState(): CircuitBreaker['state'] {
    return this.#caller.circuitState;
  }

  /**
   * The store key of `token` ({@link CachedAnswers.key}), computed once per request by the guard;
   * without a cache, the key of the in-flight map that coalesces concurrent calls.
   */
  digest(token: string): string {
    return this.#cache?.key(token) ?? tokenDigest(token);
  }

  /**
   * Validate `token` by introspection. `digest` is {@link digest}: the cache key within our
   * namespace. Concurrent requests for one token share one lookup of an asynchronous (shared)
   * store and, on a miss, one call: a request arriving while another's lookup or call is in
   * flight joins it, so a shared store's read that was sent before the answer was written can
   * never start a second call.
   */
  async introspect(token: string, digest: string, message?: AuthenticateMessage): Promise<Principal> {
    let pending = this.#inFlight.get(digest);
    if (pending === undefined) {
      const found = this.#cache?.read(digest);
      // The in-memory store answers synchronously; awaiting only real promises keeps hits cheap.
      if (found !== undefined && !isThenable(found)) {
        if (message !== undefined) message.cache = 'memory';
        return this.#accept(token, found);
      }
      pending = this.#lookUpOrCall(token, digest, found).finally(() => this.#inFlight.delete(digest));
      this.#inFlight.set(digest, pending);
    }
    const { entry, shared } = await pending;
    if (shared && message !== undefined) message.cache = 'shared';
    return this.#accept(token, entry);
  }

  /** A shared store's answer, else the authorization server's (then written to the store). */
  async #lookUpOrCall(
    token: string,
    digest: string,
    found: PromiseLike<unknown> | undefined,
  ): Promise<{ entry: IntrospectionCacheEntry; shared: boolean }> {
    const cache = this.#cache;
    if (found !== undefined && cache !== undefined) {
      const entry = await cache.settle(found);
      if (entry !== undefined) return { entry, shared: true };
    }
    return { entry: await this.#caller.call(token, cache === undefined ? undefined : digest), shared: false };
  }

  /**
   * The cached answer for `digest` when the store answers synchronously (the in-memory default);
   * `undefined` when not cached or the store is asynchronous. Throws for a cached inactive answer
   * or claims that no longer hold.
   */
  cached(token: string, digest: string): Principal | undefined {
    const cache = this.#cache;
    if (cache?.inMemory !== true) return undefined;
    const found = cache.read(digest);
    if (found === undefined || isThenable(found)) return undefined;
    const entry = found;
    // A principal this introspector built passed all of its checks (audience, issuer, token type)
    // when it was built, from claims that cannot have changed since: only time can fail it now.
    // The entry's TTL already ends at `exp`, but on the monotonic clock: a wall clock stepped
    // forward (NTP) is caught here. A principal built by another guard sharing the store is not
    // ours to trust: its answer goes through every check below, against our audiences.
    if (entry.active && this.#builtHere(entry.principal)) {
      checkIntrospectionTimes(entry.claims, this.#context.checks.clockTolerance, epochSeconds());
      return entry.principal;
    }
    return this.#accept(token, entry);
  }

  /** Whether this introspector built `principal` (see {@link cached}). */
  #builtHere(principal: Principal | undefined): principal is Principal {
    return principal !== undefined && this.#built.has(principal);
  }

  #accept(token: string, entry: IntrospectionCacheEntry): Principal {
    if (!entry.active) throw new BearerGuardError('ERR_BEARER_TOKEN_INACTIVE');
    // Every check, on every answer not already vetted by this introspector: a cached answer must
    // never outlive `exp` or skip the audience check.
    checkIntrospectionClaims(entry.claims, this.#context.checks, epochSeconds());
    if (this.#builtHere(entry.principal)) return entry.principal;
    const principal = createPrincipal(
      token,
      'introspection',
      { iss: this.#context.checks.issuer, ...entry.claims },
      readScopes(entry.claims, this.#context.scopeClaims),
    );
    this.#built.add(principal);
    entry.principal = principal;
    return principal;
  }

  /** Warm up: resolve the endpoint (discovery) and the client credentials. */
  ready(): Promise<void> {
    return this.#endpoint.ready();
  }
}
