import { EventEmitter } from 'node:events';

/**
 * Why a token was requested: none cached yet (`initial`), the cached one entered its renewal
 * margin (`proactive`), it had expired (`expired`), a backend answered `invalid_token` for it
 * (`invalid_token`), or the caller asked (`forced`).
 */
export type RenewalReason = 'initial' | 'proactive' | 'expired' | 'invalid_token' | 'forced';

/** The (scope, resource) combination an event is about. Never the token itself. */
export interface TokenEventTarget {
  scope: string | undefined;
  resource: readonly string[];
}

/**
 * What a token client tells operators. No event carries a token, a client secret or a key.
 * Listen with `tokens.on(name, listener)`. A listener that throws is ignored, so it can never fail
 * a token request.
 */
export interface TokenClientEventMap {
  /** A token was obtained. `expiresIn` is its lifetime in seconds (`defaulted` when the server gave none). */
  'token.renewed': TokenEventTarget & {
    reason: RenewalReason;
    expiresIn: number;
    defaulted: boolean;
    attempts: number;
    /** With DPoP, the thumbprint of the key the token is bound to (its `cnf.jkt`); never key material. */
    jkt: string | undefined;
  };
  /**
   * Obtaining a token failed after `attempts` tries. With `servingCachedToken`, a cached token that is
   * still valid keeps being used until it expires; without it, callers get `error`.
   */
  'token.failed': TokenEventTarget & {
    reason: RenewalReason;
    error: unknown;
    attempts: number;
    servingCachedToken: boolean;
  };
  /** An attempt failed with a retryable error; the next one follows after `delay` ms. */
  'token.retrying': TokenEventTarget & {
    reason: RenewalReason;
    attempt: number;
    delay: number;
    error: unknown;
  };
}

export type TokenClientEventName = keyof TokenClientEventMap;
export type TokenClientEventListener<E extends TokenClientEventName> = (
  event: TokenClientEventMap[E],
) => void;

/** A typed, throw-safe emitter. */
export class TokenClientEvents {
  readonly #emitter = new EventEmitter();

  on<E extends TokenClientEventName>(name: E, listener: TokenClientEventListener<E>): void {
    this.#emitter.on(name, listener);
  }

  off<E extends TokenClientEventName>(name: E, listener: TokenClientEventListener<E>): void {
    this.#emitter.off(name, listener);
  }

  emit<E extends TokenClientEventName>(name: E, event: TokenClientEventMap[E]): void {
    for (const listener of this.#emitter.listeners(name)) {
      try {
        (listener as TokenClientEventListener<E>)(event);
      } catch {
        // An operator's listener must never fail a token request.
      }
    }
  }
}
