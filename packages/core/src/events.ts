import { EventEmitter } from 'node:events';
import type { KeySetLoadTrigger } from './jwks.js';

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
