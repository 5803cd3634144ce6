import { EventEmitter } from 'node:events';
import type { CircuitState } from './circuit-breaker.js';
import type { IntrospectionFailure } from './introspection.js';
import type { KeySetLoadTrigger } from './jwks-fetch.js';

/**
 * What a guard tells operators. Listen with `guard.on(name, listener)`. Listeners must not throw;
 * an exception in a listener is caught so it can never fail a request.
 */
export interface GuardEventMap {
  /** A JWK Set was fetched and parsed. */
  'keys.loaded': { issuer: string; uri: string; trigger: KeySetLoadTrigger; keyCount: number };
  /** A JWK Set fetch failed. `servingStaleKeys` tells whether known keys keep working meanwhile. */
  'keys.refresh_failed': {
    issuer: string;
    uri: string | undefined;
    trigger: KeySetLoadTrigger;
    error: unknown;
    servingStaleKeys: boolean;
  };
  /** Authorization-server metadata was discovered. */
  'discovery.loaded': { issuer: string; jwksUri: string | undefined };
  /** Discovery failed (unreachable, invalid, or the metadata names another issuer). */
  'discovery.failed': { issuer: string; error: unknown };
  /**
   * An introspection call failed: `reason` tells a timeout, a refused connection, a 5xx or 429, a
   * body that is not a valid introspection response, the server refusing our own client
   * credentials, or (`refused`) another 4xx, which is not counted by the circuit breaker.
   */
  'introspection.failed': {
    issuer: string;
    endpoint: string | undefined;
    reason: IntrospectionFailure;
    error: unknown;
  };
  /**
   * The introspection cache's store failed: `get` threw, rejected, did not answer within the
   * introspection `timeout` or returned something that is not an entry (the lookup was a miss), or
   * `set` threw or rejected (the answer was not cached). The request went on either way.
   */
  'store.failed': { issuer: string; operation: 'get' | 'set'; error: unknown };
  /** A circuit breaker changed state (`open`: failing fast; `half-open`: probing; `closed`: recovered). */
  'circuit.state': { name: string; state: CircuitState; consecutiveFailures: number };
}

export type GuardEventName = keyof GuardEventMap;
export type GuardEventListener<E extends GuardEventName> = (event: GuardEventMap[E]) => void;

/** A typed, throw-safe emitter. */
export class GuardEvents {
  readonly #emitter = new EventEmitter();

  on<E extends GuardEventName>(name: E, listener: GuardEventListener<E>): this {
    this.#emitter.on(name, listener);
    return this;
  }

  off<E extends GuardEventName>(name: E, listener: GuardEventListener<E>): this {
    this.#emitter.off(name, listener);
    return this;
  }

  emit<E extends GuardEventName>(name: E, event: GuardEventMap[E]): void {
    for (const listener of this.#emitter.listeners(name)) {
      try {
        (listener as GuardEventListener<E>)(event);
      } catch {
        // An operator's listener must never fail a request.
      }
    }
  }
}
