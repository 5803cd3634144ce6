/**
 * Where accepted DPoP proofs are remembered so each is accepted once (RFC 9449 §11.1). One atomic
 * operation: record `key` unless it is there, for `ttlMs`; `true` when it was recorded (a first
 * use), `false` when it was already there (a replay). Share one store between replicas (Redis
 * `SET key 1 NX PX ttl`) so a proof replayed against another replica is caught too; a
 * check-then-set pair (`EXISTS` then `SETEX`) races and is not enough.
 *
 * A store that throws, rejects or does not answer within the guard's `timeout` fails the request
 * with 503 (`ERR_BEARER_DPOP_REPLAY_STORE_UNAVAILABLE`): a proof that cannot be recorded is never
 * accepted.
 */
export interface DpopReplayStore {
  setIfAbsent(key: string, ttlMs: number): boolean | Promise<boolean>;
}

/**
 * The default store: in memory, per process, bounded to `max` live entries. When it is full of
 * entries that have not expired, it refuses to record (the request answers 503) rather than forget
 * a proof that could then be replayed: fail closed. Not shared between replicas: behind a load
 * balancer, pass a shared store.
 */
export class MemoryDpopReplayStore implements DpopReplayStore {
  readonly #entries = new Map<string, number>();
  readonly #max: number;

  constructor(max = 100_000) {
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  setIfAbsent(key: string, ttlMs: number, nowMs: number = Date.now()): boolean {
    const expires = this.#entries.get(key);
    if (expires !== undefined && expires > nowMs) return false;
    if (expires === undefined && this.#entries.size >= this.#max) {
      for (const [entry, until] of this.#entries) if (until <= nowMs) this.#entries.delete(entry);
      if (this.#entries.size >= this.#max) {
        throw new Error(`the in-memory DPoP replay store is full (${String(this.#max)} live proofs)`);
      }
    }
    // Re-inserted at the end, so the Map stays roughly in expiry order.
    this.#entries.delete(key);
    this.#entries.set(key, nowMs + ttlMs);
    return true;
  }
}
