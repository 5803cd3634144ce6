import type * as oauth from 'oauth4webapi';
import { CircuitBreaker } from './circuit-breaker.js';
import { introspectionChannel, payloadUrl, tracePromise, type IntrospectionMessage } from './diagnostics.js';
import { BearerGuardError } from './errors.js';
import { epochSeconds } from './internal/numeric-date.js';
import type { IntrospectorContext } from './introspection.js';
import type { CachedAnswers, IntrospectionCacheEntry } from './introspection-cache.js';
import type { IntrospectionEndpoint } from './introspection-endpoint.js';
import { classifyIntrospectionError } from './introspection-failure.js';
import type { ResolvedIntrospection } from './introspection-options.js';
import { requestIntrospection, type IntrospectionWire } from './introspection-request.js';

/** Where a caller's answers go: the cache (`undefined` when off) and each entry's `context`. */
export interface IntrospectionRecord {
  cache: CachedAnswers | undefined;
  namespace: string;
}

/**
 * The calls to the introspection endpoint, behind a circuit breaker that fails fast while the
 * endpoint is down. Every failure to get an answer is a 503, never a 401 (the token may be fine)
 * and never a pass; nothing a caller puts in its token counts against the breaker. An answer is
 * written to the cache before the call settles.
 *
 * @see RFC 7662 §2.1, §2.2, §4
 */
export class IntrospectionCaller {
  readonly #options: ResolvedIntrospection;
  readonly #context: IntrospectorContext;
  readonly #endpoint: IntrospectionEndpoint;
  readonly #record: IntrospectionRecord;
  readonly #breaker: CircuitBreaker;
  /** What the wire step needs (introspection-request.ts), built once. */
  readonly #wire: IntrospectionWire;

  constructor(
    options: ResolvedIntrospection,
    context: IntrospectorContext,
    endpoint: IntrospectionEndpoint,
    record: IntrospectionRecord,
  ) {
    this.#options = options;
    this.#context = context;
    this.#endpoint = endpoint;
    this.#record = record;
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

  /** The breaker's state, for health endpoints. */
  get circuitState(): CircuitBreaker['state'] {
    return this.#breaker.state;
  }

  /**
   * One call for `token`, its answer written to the cache under `key` (none without a key).
   * Published on `bearer-guard:introspection` when someone listens. A call the open circuit
   * refuses makes no request, so it publishes nothing (the authentication says 503).
   */
  call(token: string, key: string | undefined): Promise<IntrospectionCacheEntry> {
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
        const discovered = this.#endpoint.url;
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
      as = await this.#endpoint.authorizationServer();
      claims = await requestIntrospection(
        as,
        token,
        await this.#endpoint.clientAuthentication(),
        this.#wire,
        message,
      );
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
    const context = this.#record.namespace;
    const entry: IntrospectionCacheEntry =
      claims['active'] === true ? { active: true, context, claims } : { active: false, context };
    if (key !== undefined) {
      const stored = this.#record.cache?.remember(key, entry, epochSeconds());
      if (stored !== undefined) await stored;
    }
    return entry;
  }
}
