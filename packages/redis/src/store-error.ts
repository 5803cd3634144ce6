/**
 * Why a Redis command of a store failed. Codes are the contract; messages are not. These errors
 * never reach an HTTP client: they are the `error` of the core's `store.failed` event (introspection
 * cache), the `cause` of its 503 `ERR_BEARER_DPOP_REPLAY_STORE_UNAVAILABLE` (replay store), and the
 * `error` passed to a store's `onError`. None holds a token, a key of the store or a value of it.
 */
export type RedisStoreErrorCode =
  /** Redis did not answer within the store's `timeout` (slow, paused, or the client is reconnecting and queueing). */
  | 'ERR_BEARER_REDIS_TIMEOUT'
  /** The store's circuit breaker is open after consecutive failures: the command was not sent. */
  | 'ERR_BEARER_REDIS_CIRCUIT_OPEN'
  /** The client rejected the command: connection closed or refused, or an error reply (`cause`). */
  | 'ERR_BEARER_REDIS_COMMAND_FAILED'
  /** The reply is not one the command can give (e.g. `SET … NX` answering neither `OK` nor nil). */
  | 'ERR_BEARER_REDIS_INVALID_REPLY'
  /** A cached value is not one this store wrote under its `hmacKey` (corrupt, foreign or forged): a miss. */
  | 'ERR_BEARER_REDIS_INVALID_ENTRY';

export class RedisStoreError extends Error {
  override readonly name = 'RedisStoreError';
  readonly code: RedisStoreErrorCode;

  constructor(code: RedisStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Which store, which operation, what failed, and whether the store answered anyway from its local fallback. */
export interface RedisStoreErrorEvent {
  store: 'introspection' | 'dpop-replay';
  operation: 'get' | 'set' | 'delete' | 'setIfAbsent';
  error: RedisStoreError;
  /**
   * `true` when the replay store answered from its per-replica memory instead (`onUnavailable:
   * 'local'`): the request went on, with replays to other replicas undetected meanwhile.
   */
  fallback: boolean;
}

/** An operator's `onError` must never fail a request. */
export function report(
  listener: ((event: RedisStoreErrorEvent) => void) | undefined,
  event: RedisStoreErrorEvent,
): void {
  try {
    listener?.(event);
  } catch {
    // An operator's listener must never fail a request.
  }
}
