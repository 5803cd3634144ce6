import type { JWTVerifyGetKey } from 'jose';
import type { KeyObject } from 'node:crypto';
import type * as oauth from 'oauth4webapi';
import { CircuitBreaker } from './circuit-breaker.js';
import { metadataEndpoint, type AuthorizationServerMetadata } from './discovery.js';
import {
  introspectionChannel,
  payloadUrl,
  tracePromise,
  type AuthenticateMessage,
  type IntrospectionMessage,
} from './diagnostics.js';
import { BearerGuardError } from './errors.js';
import type { GuardEvents } from './events.js';
import {
  CachedAnswers,
  introspectionContext,
  isThenable,
  type IntrospectionCacheEntry,
} from './introspection-cache.js';
import { classifyIntrospectionError } from './introspection-failure.js';
import { requestIntrospection, type IntrospectionWire } from './introspection-request.js';
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

const epochSeconds = (): number => Math.floor(Date.now() / 1000);

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
  readonly #options: ResolvedIntrospection;
  readonly #context: IntrospectorContext;
  readonly #breaker: CircuitBreaker;
  /** Lookups of a shared store and calls in flight, by digest: concurrent requests share them. */
  readonly #inFlight = new Map<string, Promise<{ entry: IntrospectionCacheEntry; shared: boolean }>>();
  /** The cache, in the namespace of this issuer, endpoint and client; `undefined` when off. */
  readonly #cache: CachedAnswers | undefined;
  /** Each entry's `context` (see `introspectionContext`). */
  readonly #namespace: string;
  /** The `application/*` media type an answer must have. */
  /** What the wire step needs (introspection-request.ts), built once. */
  readonly #wire: IntrospectionWire;
  #clientAuth: Promise<oauth.ClientAuth> | undefined;

  #server: oauth.AuthorizationServer | undefined;

  /** Principals this introspector built, after every check of its own (see `cached`). */
  readonly #built = new WeakSet<Principal>();

  constructor(options: ResolvedIntrospection, context: IntrospectorContext) {
    this.#options = options;
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
    this.#wire = {
      clientId: options.clientId,
      jwtResponse: options.jwtResponse,
      timeout: options.timeout,
      maxResponseBytes: options.maxResponseBytes,
      keys: context.keys,
      algorithms: context.algorithms,
    };
    this.#breaker = new CircuitBreaker({
      name: `introspection ${context.checks.issuer}`,
      failureThreshold: options.breaker.failureThreshold,
      cooldown: options.breaker.cooldown,
      events: context.events,
    });
  }

  /** The issuer whose endpoint this calls. */
  get issuer(): string {
    return this.#context.checks.issuer;
  }

  /** The breaker's state, for health endpoints. */
  get circuitState(): CircuitBreaker['state'] {
    return this.#breaker.state;
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
    return { entry: await this.#tracedCall(token, cache === undefined ? undefined : digest), shared: false };
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
  async ready(): Promise<void> {
    await this.#authorizationServer();
    await this.#clientAuthentication();
  }

  /**
   * The endpoint and its metadata, resolved on the first call that succeeds. The discovered
   * metadata never changes once loaded (a failure is not remembered), so neither does this.
   */
  async #authorizationServer(): Promise<oauth.AuthorizationServer> {
    this.#server ??= await this.#resolveAuthorizationServer();
    return this.#server;
  }

  async #resolveAuthorizationServer(): Promise<oauth.AuthorizationServer> {
    const { endpoint } = this.#options;
    if (endpoint !== undefined) {
      return {
        issuer: this.#context.checks.issuer,
        introspection_endpoint: endpoint,
        // Without metadata, oauth4webapi would accept only RS256 JWT answers: use our allow-list.
        introspection_signing_alg_values_supported: [...this.#context.algorithms],
      };
    }
    const metadata = await this.#context.metadata();
    try {
      // Our client credentials go to this URL: it is held to the rule of a configured `endpoint`.
      metadataEndpoint(
        metadata,
        'introspection_endpoint',
        this.#context.checks.issuer,
        this.#context.allowInsecureHttp,
      );
    } catch (cause) {
      throw new BearerGuardError('ERR_BEARER_DISCOVERY_UNAVAILABLE', { cause });
    }
    return metadata;
  }

  #clientAuthentication(): Promise<oauth.ClientAuth> {
    this.#clientAuth ??= this.#options.clientAuthentication();
    return this.#clientAuth;
  }

  /**
   * {@link #call}, published on `bearer-guard:introspection` when someone listens. A call the open
   * circuit refuses makes no request, so it publishes nothing (the authentication says 503).
   */
  #tracedCall(token: string, key: string | undefined): Promise<IntrospectionCacheEntry> {
    if (!introspectionChannel.hasSubscribers) return this.#call(token, key);
    if (!this.#breaker.allow()) return Promise.reject(this.#circuitOpen());
    const message: IntrospectionMessage = {
      issuer: this.#context.checks.issuer,
      endpoint: this.#options.endpoint === undefined ? undefined : payloadUrl(this.#options.endpoint),
      outcome: undefined,
      reason: undefined,
      status: undefined,
    };
    return tracePromise(
      introspectionChannel,
      message,
      () => this.#call(token, key, message, true),
      (done, result) => {
        const discovered = this.#server?.introspection_endpoint;
        done.endpoint ??= discovered === undefined ? undefined : payloadUrl(discovered);
        if ('value' in result) done.outcome = result.value.active ? 'active' : 'inactive';
        else {
          done.outcome = 'unavailable';
          done.reason ??= 'discovery';
        }
      },
    );
  }

  #circuitOpen(): BearerGuardError {
    return new BearerGuardError('ERR_BEARER_INTROSPECTION_UNAVAILABLE', {
      cause: new Error('circuit open'),
      retryAfter: Math.max(1, Math.ceil(this.#breaker.retryIn / 1000)),
    });
  }

  async #call(
    token: string,
    key: string | undefined,
    message?: IntrospectionMessage,
    allowed = false,
  ): Promise<IntrospectionCacheEntry> {
    if (!allowed && !this.#breaker.allow()) throw this.#circuitOpen();
    let as: oauth.AuthorizationServer | undefined;
    let claims: Record<string, unknown>;
    try {
      as = await this.#authorizationServer();
      claims = await requestIntrospection(as, token, await this.#clientAuthentication(), this.#wire, message);
    } catch (error) {
      const outcome = classifyIntrospectionError(error);
      if (message !== undefined && typeof outcome === 'object') message.reason = outcome.reason;
      if (outcome === 'inactive') {
        // The server answered, about this token: RFC 7662 §2.2 would have it `"active": false`.
        claims = { active: false };
      } else if (outcome === undefined) {
        this.#breaker.release();
        throw error; // discovery already answered with its own 503
      } else {
        // Only what a caller cannot cause with its token may open the circuit for everyone.
        if (outcome.counts) this.#breaker.failure();
        else this.#breaker.release();
        this.#context.events.emit('introspection.failed', {
          issuer: this.#context.checks.issuer,
          endpoint: as?.introspection_endpoint,
          reason: outcome.reason,
          error,
        });
        throw new BearerGuardError('ERR_BEARER_INTROSPECTION_UNAVAILABLE', {
          cause: error,
          retryAfter: Math.max(1, Math.ceil(this.#options.breaker.cooldown / 1000)),
        });
      }
    }
    this.#breaker.success();
    const context = this.#namespace;
    const entry: IntrospectionCacheEntry =
      claims['active'] === true ? { active: true, context, claims } : { active: false, context };
    if (key !== undefined) {
      const stored = this.#cache?.remember(key, entry, epochSeconds());
      if (stored !== undefined) await stored;
    }
    return entry;
  }
}
